using System.Net;
using System.Net.Sockets;

namespace DistributedNN.Transport;

/// <summary>
/// Accepts tensor-channel connections on a TCP port and hands each accepted <see cref="TensorChannel"/> to a
/// callback (typically: register it, then run its <see cref="TensorChannel.ReceiveLoopAsync"/>). Each connection
/// first goes through the opening handshake of <see cref="TensorHandshake"/> (mutual TLS when the options have
/// <see cref="TensorChannelOptions.Tls"/>, then the credentials of <see cref="TensorChannelOptions.AccessToken"/>);
/// a refused one is closed and reported to onError as a <see cref="TensorAuthenticationException"/>, and never
/// reaches the callback. Handshakes and callbacks run on the thread pool, so neither holds up the next accept. The listener owns what it
/// accepted: <see cref="DisposeAsync"/> stops accepting and closes every accepted channel.
/// </summary>
public sealed class TensorListener : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly Func<TensorChannel, Task> _onAccepted;
    private readonly Action<Exception>? _onError;
    private readonly TensorChannelOptions _options;
    private readonly CancellationTokenSource _stop = new();
    private readonly HashSet<TensorChannel> _channels = [];
    private readonly Lock _gate = new();
    private readonly Task _acceptLoop;
    private long _accepted;
    private int _disposed;

    /// <summary>
    /// Binds <paramref name="address"/>:<paramref name="port"/> (port 0 = any free port, see <see cref="LocalEndPoint"/>)
    /// and starts accepting.
    /// </summary>
    /// <param name="onAccepted">Called once per accepted connection.</param>
    /// <param name="options">The options of accepted channels (their MaxCount limits incoming frames).</param>
    /// <param name="onError">Told about exceptions of <paramref name="onAccepted"/> tasks and failed accepts (default: ignored).</param>
    /// <exception cref="SocketException">The address cannot be bound (e.g. the port is in use).</exception>
    public TensorListener(IPAddress address, int port, Func<TensorChannel, Task> onAccepted,
        TensorChannelOptions? options = null, Action<Exception>? onError = null)
    {
        ArgumentNullException.ThrowIfNull(address);
        ArgumentNullException.ThrowIfNull(onAccepted);
        ArgumentOutOfRangeException.ThrowIfLessThan(port, IPEndPoint.MinPort);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, IPEndPoint.MaxPort);
        TensorFrame.EnsureLittleEndian();
        _onAccepted = onAccepted;
        _onError = onError;
        _options = options ?? TensorChannelOptions.Default;
        _listener = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (_options.SocketBufferBytes > 0)
            {
                // accepted sockets inherit the receive buffer, and the window scale is fixed at the handshake
                _listener.ReceiveBufferSize = _options.SocketBufferBytes;
                _listener.SendBufferSize = _options.SocketBufferBytes;
            }
            _listener.Bind(new IPEndPoint(address, port));
            _listener.Listen(128);
            LocalEndPoint = (IPEndPoint)_listener.LocalEndPoint!;
        }
        catch
        {
            _listener.Dispose();
            throw;
        }
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    /// <summary>The bound address and port.</summary>
    public IPEndPoint LocalEndPoint { get; }

    /// <summary>Connections accepted so far.</summary>
    public long AcceptedCount => Interlocked.Read(ref _accepted);

    private async Task AcceptLoopAsync()
    {
        CancellationToken ct = _stop.Token;
        while (!ct.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptAsync(ct).ConfigureAwait(false);
            }
            catch (Exception) when (ct.IsCancellationRequested || Volatile.Read(ref _disposed) != 0)
            {
                return;
            }
            catch (SocketException e)
            {
                // e.g. a connection reset before it was accepted, or out of file descriptors: report, breathe, go on
                _onError?.Invoke(new IOException($"accepting on {LocalEndPoint} failed: {e.SocketErrorCode} ({e.Message})", e));
                try { await Task.Delay(50, ct).ConfigureAwait(false); } catch (OperationCanceledException) { return; }
                continue;
            }

            _ = Task.Run(() => HandshakeAsync(socket, ct));
        }
    }

    /// <summary>The opening handshake of one accepted connection; on success, the channel goes to the callback.</summary>
    private async Task HandshakeAsync(Socket socket, CancellationToken ct)
    {
        TensorChannel channel;
        try
        {
            channel = await TensorChannel.AcceptAsync(socket, _options, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or ArgumentException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // refused, or the peer left between accept and setup, or we are shutting down (the socket is disposed)
            if (!ct.IsCancellationRequested) _onError?.Invoke(e);
            return;
        }

        lock (_gate)
        {
            if (Volatile.Read(ref _disposed) != 0)
            {
                channel.Dispose();
                return;
            }
            _channels.RemoveWhere(c => c.IsClosed);
            _channels.Add(channel);
        }
        Interlocked.Increment(ref _accepted);
        await RunCallbackAsync(channel).ConfigureAwait(false);
    }

    private async Task RunCallbackAsync(TensorChannel channel)
    {
        try
        {
            await _onAccepted(channel).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            _onError?.Invoke(e);
        }
    }

    /// <summary>Stops accepting, closes the listening socket and every channel it accepted.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _stop.Cancel();
        _listener.Dispose();
        try
        {
            await _acceptLoop.ConfigureAwait(false);
        }
        catch (Exception e)
        {
            _onError?.Invoke(e);
        }
        TensorChannel[] channels;
        lock (_gate)
        {
            channels = [.. _channels];
            _channels.Clear();
        }
        foreach (var channel in channels)
            await channel.DisposeAsync().ConfigureAwait(false);
        _stop.Dispose();
    }

    public override string ToString() => $"tensor listener on {LocalEndPoint}";
}
