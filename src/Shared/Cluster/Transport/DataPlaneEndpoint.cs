using System.Net;
using DistributedNN.Security;

namespace DistributedNN.Transport;

/// <summary>
/// A worker's data-plane listener: the endpoint and access token it registers with, and the newest connection a
/// coordinator opened to it (a newer one replaces the older, which is closed). It runs each connection's receive loop
/// itself and hands the frames to whichever sink is attached — the tcp link of the job at hand — refusing them while
/// none is, so a connection outlives the links (jobs) that use it. Anyone on the network can connect: the listener caps
/// handshakes and connections (<see cref="ListenerLimits.Default"/>), drops a handshake that does not finish in time,
/// refuses a wrong token, and reports each refusal through onProblem at a limited rate.
/// </summary>
public sealed class DataPlaneEndpoint : IAsyncDisposable
{
    private readonly TensorListener _listener;
    private readonly Action<string> _onProblem;
    private readonly Lock _gate = new();
    private TensorChannel? _latest;
    private ITensorSink? _sink;
    private Func<TensorChannel, Task>? _peers;

    /// <param name="onProblem">told of failed handshakes, accept errors and a lost connection (for the log)</param>
    public DataPlaneEndpoint(IPAddress address, int port, ClusterTls? tls, Action<string> onProblem)
    {
        _onProblem = onProblem;
        _listener = new TensorListener(address, port, OnAccepted, TensorChannelOptions.Default with { Tls = tls, AccessToken = AccessToken, PeerToken = PeerToken },
            e => onProblem(e.Message));
    }

    /// <summary>The credentials the listener requires; only the coordinator the worker registers with learns them.</summary>
    public byte[] AccessToken { get; } = TensorHandshake.NewToken();

    /// <summary>What the other workers of a sharded job present (derived from <see cref="AccessToken"/>; the coordinator hands it to them).</summary>
    public byte[] PeerToken => _peerToken ??= TensorHandshake.PeerToken(AccessToken);
    private byte[]? _peerToken;

    public IPEndPoint LocalEndPoint => _listener.LocalEndPoint;

    /// <summary>Who serves the connections other workers open (a sharded job's slice exchange); null refuses them.</summary>
    public void AttachPeers(Func<TensorChannel, Task>? serve) => Volatile.Write(ref _peers, serve);

    /// <summary>The newest connection from a coordinator (what a link sends on), or null.</summary>
    public TensorChannel? Channel
    {
        get { lock (_gate) return _latest; }
    }

    /// <summary>The sink of every frame from now on.</summary>
    public void Attach(ITensorSink sink) => _sink = sink;

    /// <summary>Frames are refused from now on, unless another sink was attached since <paramref name="sink"/>.</summary>
    public void Detach(ITensorSink sink) => Interlocked.CompareExchange(ref _sink, null, sink);

    private async Task OnAccepted(TensorChannel channel)
    {
        if (channel.IsPeer)
        {
            if (Volatile.Read(ref _peers) is { } serve) await serve(channel).ConfigureAwait(false);
            channel.Dispose();
            return;
        }
        TensorChannel? old;
        lock (_gate) (old, _latest) = (_latest, channel);
        old?.Dispose();
        string reason = "closed by the coordinator";
        try { await channel.ReceiveLoopAsync(new Forward(this)).ConfigureAwait(false); }
        catch (Exception e) { reason = e.Message; }
        bool current;
        lock (_gate) current = ReferenceEquals(_latest, channel);
        if (current && Volatile.Read(ref _sink) is not null) _onProblem($"the data-plane connection from the coordinator closed: {reason}");
    }

    /// <summary>A connection's frames to the sink attached at the time (a frame refused when none is).</summary>
    private sealed class Forward(DataPlaneEndpoint endpoint) : ITensorSink
    {
        private ITensorSink? _taken;

        public bool TryGetDestination(in TensorHeader header, out Memory<float> destination)
        {
            _taken = Volatile.Read(ref endpoint._sink);
            destination = default;
            return _taken is not null && _taken.TryGetDestination(header, out destination);
        }

        public void Received(in TensorHeader header, Memory<float> payload) => _taken?.Received(header, payload);
    }

    public async ValueTask DisposeAsync()
    {
        TensorChannel? latest;
        lock (_gate) (latest, _latest) = (_latest, null);
        Volatile.Write(ref _sink, null);
        Volatile.Write(ref _peers, null);
        latest?.Dispose();
        await _listener.DisposeAsync().ConfigureAwait(false);
    }
}
