using System.Net;
using Akka.Actor;

namespace DistributedNN.Transport;

/// <summary>
/// The coordinator's side of one job's transport: it opens a link (<see cref="IWorkerLink"/>) to each worker and keeps
/// the job's tensor byte counts, those of closed links included. Made once per job by <see cref="Create"/>, the one place
/// that knows which transports exist.
/// </summary>
public abstract class CoordinatorTransport : IDisposable
{
    private readonly HashSet<IWorkerLink> _open = new();
    private long _retiredSent, _retiredReceived;

    protected CoordinatorTransport(LinkSettings settings, GradientBufferPool pool, IWorkerLinkEvents events)
    {
        Settings = settings;
        Pool = pool;
        Events = events;
    }

    protected LinkSettings Settings { get; }
    protected GradientBufferPool Pool { get; }
    protected IWorkerLinkEvents Events { get; }

    /// <param name="coordinator">the coordinator actor: the sender of the akka transport's chunks</param>
    public static CoordinatorTransport Create(TransportKind kind, LinkSettings settings, GradientBufferPool pool, IWorkerLinkEvents events,
        IActorRef coordinator) => kind switch
    {
        TransportKind.Tcp => new TcpCoordinatorTransport(settings, pool, events),
        TransportKind.Shm => new ShmCoordinatorTransport(settings, pool, events),
        TransportKind.Akka => new AkkaCoordinatorTransport(settings, pool, events, coordinator),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "no such transport"),
    };

    /// <summary>A link to <paramref name="worker"/>; fails (IOException, SocketException, …) when the worker cannot be reached.</summary>
    public async Task<IWorkerLink> OpenAsync(WorkerContact worker, CancellationToken ct)
    {
        var link = await OpenLinkAsync(worker, ct).ConfigureAwait(false);
        lock (_open) _open.Add(link);
        return link;
    }

    protected abstract Task<IWorkerLink> OpenLinkAsync(WorkerContact worker, CancellationToken ct);

    /// <summary>Disposes a link and keeps its byte counts.</summary>
    public void Close(IWorkerLink link)
    {
        lock (_open)
            if (!_open.Remove(link)) return;
        link.Dispose();
        Interlocked.Add(ref _retiredSent, link.BytesSent);
        Interlocked.Add(ref _retiredReceived, link.BytesReceived);
    }

    /// <summary>Tensor payload bytes sent to every worker of the job so far.</summary>
    public long BytesSent
    {
        get { lock (_open) return Interlocked.Read(ref _retiredSent) + _open.Sum(l => l.BytesSent); }
    }

    /// <summary>Tensor payload bytes received from every worker of the job so far.</summary>
    public long BytesReceived
    {
        get { lock (_open) return Interlocked.Read(ref _retiredReceived) + _open.Sum(l => l.BytesReceived); }
    }

    /// <summary>Closes every link, then what the transport itself holds.</summary>
    public void Dispose()
    {
        List<IWorkerLink> open;
        lock (_open) open = _open.ToList();
        foreach (var link in open) Close(link);
        DisposeShared();
        GC.SuppressFinalize(this);
    }

    protected virtual void DisposeShared() { }

    /// <summary>The worker's data-plane address: an IP address as is, a host name resolved (IPv4).</summary>
    protected static Task<IPEndPoint> ResolveAsync(WorkerContact worker, CancellationToken ct) => ResolveAsync(worker.DataPlaneHost, worker.DataPlanePort, ct);

    /// <summary>A data plane's address (a worker's, or a slice owner's for its peers): an IP address as is, a host name resolved (IPv4).</summary>
    internal static async Task<IPEndPoint> ResolveAsync(string host, int port, CancellationToken ct)
    {
        if (IPAddress.TryParse(host, out var address)) return new IPEndPoint(address, port);
        var addresses = await Dns.GetHostAddressesAsync(host, ct).ConfigureAwait(false);
        var v4 = addresses.FirstOrDefault(a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork)
            ?? throw new IOException($"the data-plane host '{host}' has no IPv4 address");
        return new IPEndPoint(v4, port);
    }
}
