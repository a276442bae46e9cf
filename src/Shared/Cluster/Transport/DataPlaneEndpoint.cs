using System.Net;
using DistributedNN.Security;

namespace DistributedNN.Transport;

/// <summary>
/// A worker's data-plane listener: the endpoint and access token it registers with, and the newest connection a
/// coordinator opened to it (a newer one replaces the older, which is closed). The tcp link of a job takes that
/// connection, and any that replaces it, through <see cref="Attach"/>.
/// </summary>
public sealed class DataPlaneEndpoint : IAsyncDisposable
{
    private readonly TensorListener _listener;
    private readonly Lock _gate = new();
    private TensorChannel? _latest;
    private Action<TensorChannel>? _attached;

    /// <param name="onProblem">told of failed handshakes and accept errors (for the log)</param>
    public DataPlaneEndpoint(IPAddress address, int port, ClusterTls? tls, Action<string> onProblem)
    {
        _listener = new TensorListener(address, port, OnAccepted, TensorChannelOptions.Default with { Tls = tls, AccessToken = AccessToken },
            e => onProblem(e.Message));
    }

    /// <summary>The credentials the listener requires; only the coordinator the worker registers with learns them.</summary>
    public byte[] AccessToken { get; } = TensorHandshake.NewToken();

    public IPEndPoint LocalEndPoint => _listener.LocalEndPoint;

    private Task OnAccepted(TensorChannel channel)
    {
        TensorChannel? old;
        Action<TensorChannel>? attached;
        lock (_gate)
        {
            (old, _latest) = (_latest, channel);
            attached = _attached;
        }
        old?.Dispose();
        attached?.Invoke(channel);
        return Task.CompletedTask;
    }

    /// <summary>Hands <paramref name="onChannel"/> the current connection, if any, and every later one; null detaches.</summary>
    public void Attach(Action<TensorChannel>? onChannel)
    {
        TensorChannel? current;
        lock (_gate)
        {
            _attached = onChannel;
            current = _latest;
        }
        if (current is not null && onChannel is not null) onChannel(current);
    }

    public async ValueTask DisposeAsync()
    {
        TensorChannel? latest;
        lock (_gate) (latest, _latest, _attached) = (_latest, null, null);
        latest?.Dispose();
        await _listener.DisposeAsync().ConfigureAwait(false);
    }
}
