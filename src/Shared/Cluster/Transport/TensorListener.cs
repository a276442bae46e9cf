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
/// <para>
/// Anyone who reaches the port can connect, so what a connection may cost is capped (<see cref="ListenerLimits"/>):
/// connections in their handshake and connections held at all; one beyond a cap is reset at once, unread. A connection
/// that does not finish its handshake within <see cref="TensorChannelOptions.HandshakeTimeout"/> is dropped. While
/// the handshake places are taken, an honest client is refused too (it retries); a flood holds them only until the
/// handshake deadline. Reports to onError are rate-limited (<see cref="ReportThrottle"/>).
/// </para>
/// </summary>
public sealed class TensorListener : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly Func<TensorChannel, Task> _onAccepted;
    private readonly ReportThrottle _reports;
    private readonly ListenerLimits _limits;
    private readonly TensorChannelOptions _options;
    private readonly CancellationTokenSource _stop = new();
    private readonly HashSet<TensorChannel> _channels = [];
    private readonly Lock _gate = new();
    private readonly Task _acceptLoop;
    private long _accepted, _refused;
    private int _handshaking;
    private int _disposed;

    /// <summary>
    /// Binds <paramref name="address"/>:<paramref name="port"/> (port 0 = any free port, see <see cref="LocalEndPoint"/>)
    /// and starts accepting.
    /// </summary>
    /// <param name="onAccepted">Called once per accepted connection.</param>
    /// <param name="options">The options of accepted channels (their MaxCount limits incoming frames).</param>
    /// <param name="onError">Told about refused connections, failed handshakes, exceptions of <paramref name="onAccepted"/>
    /// tasks and failed accepts, at most <see cref="ListenerLimits.ReportsPerWindow"/> a window (default: ignored).</param>
    /// <param name="limits">the caps on connections (default <see cref="ListenerLimits.Default"/>)</param>
    /// <exception cref="SocketException">The address cannot be bound (e.g. the port is in use).</exception>
    public TensorListener(IPAddress address, int port, Func<TensorChannel, Task> onAccepted,
        TensorChannelOptions? options = null, Action<Exception>? onError = null, ListenerLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(address);
        ArgumentNullException.ThrowIfNull(onAccepted);
        ArgumentOutOfRangeException.ThrowIfLessThan(port, IPEndPoint.MinPort);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, IPEndPoint.MaxPort);
        TensorFrame.EnsureLittleEndian();
        _onAccepted = onAccepted;
        _options = options ?? TensorChannelOptions.Default;
        _limits = limits ?? ListenerLimits.Default;
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
        _reports = new ReportThrottle(_limits, ToString(), onError ?? (_ => { }));
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    /// <summary>The bound address and port.</summary>
    public IPEndPoint LocalEndPoint { get; }

    /// <summary>Connections accepted so far (past their handshake).</summary>
    public long AcceptedCount => Interlocked.Read(ref _accepted);

    /// <summary>Connections reset at once so far because a cap of <see cref="ListenerLimits"/> was reached.</summary>
    public long RefusedCount => Interlocked.Read(ref _refused);

    /// <summary>Connections in their opening handshake now.</summary>
    public int HandshakesInProgress => Volatile.Read(ref _handshaking);

    /// <summary>Connections held now: in their handshake, or accepted and not closed.</summary>
    public int ConnectionsHeld
    {
        get
        {
            lock (_gate) return Volatile.Read(ref _handshaking) + _channels.Count(c => !c.IsClosed);
        }
    }

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
                _reports.Report(new IOException($"accepting on {LocalEndPoint} failed: {e.SocketErrorCode} ({e.Message})", e));
                try { await Task.Delay(50, ct).ConfigureAwait(false); } catch (OperationCanceledException) { return; }
                continue;
            }

            if (OverCap() is { } cap)
            {
                Refuse(socket, cap);
                continue;
            }
            Interlocked.Increment(ref _handshaking); // only this loop adds: the check above cannot be raced past
            _ = Task.Run(() => HandshakeAsync(socket, ct));
        }
    }

    /// <summary>Why one more connection would be too many, or null.</summary>
    private string? OverCap()
    {
        int handshaking = Volatile.Read(ref _handshaking);
        if (handshaking >= _limits.MaxHandshakes) return $"{handshaking} connections are in their handshake already (the limit)";
        int held;
        lock (_gate)
        {
            _channels.RemoveWhere(c => c.IsClosed);
            held = handshaking + _channels.Count;
        }
        return held >= _limits.MaxConnections ? $"it holds {held} connections already (the limit)" : null;
    }

    /// <summary>Closes <paramref name="socket"/> with a reset (no lingering state here), unread, and reports it.</summary>
    private void Refuse(Socket socket, string why)
    {
        Interlocked.Increment(ref _refused);
        string from = "an unknown address";
        try
        {
            from = socket.RemoteEndPoint?.ToString() ?? from;
            socket.LingerState = new LingerOption(true, 0);
        }
        catch (SocketException)
        {
            // reset by the peer already
        }
        socket.Dispose();
        _reports.Report(new TensorAuthenticationException($"refused a data-plane connection from {from}: {why}"));
    }

    /// <summary>The opening handshake of one accepted connection; on success, the channel goes to the callback.</summary>
    private async Task HandshakeAsync(Socket socket, CancellationToken ct)
    {
        TensorChannel channel;
        try
        {
            channel = await TensorChannel.AcceptAsync(socket, _options, ct).ConfigureAwait(false);
            if (!Hold(channel)) return;
        }
        catch (Exception e) when (e is IOException or ArgumentException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // refused, or the peer left between accept and setup, or we are shutting down (the socket is disposed)
            if (!ct.IsCancellationRequested) _reports.Report(e);
            return;
        }
        finally
        {
            Interlocked.Decrement(ref _handshaking); // after Hold: the connection is always counted once at least
        }
        Interlocked.Increment(ref _accepted);
        await RunCallbackAsync(channel).ConfigureAwait(false);
    }

    /// <summary>Keeps <paramref name="channel"/> to close on dispose; false (and closed) when the listener is disposed already.</summary>
    private bool Hold(TensorChannel channel)
    {
        lock (_gate)
        {
            if (Volatile.Read(ref _disposed) != 0)
            {
                channel.Dispose();
                return false;
            }
            _channels.RemoveWhere(c => c.IsClosed);
            _channels.Add(channel);
            return true;
        }
    }

    private async Task RunCallbackAsync(TensorChannel channel)
    {
        try
        {
            await _onAccepted(channel).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            _reports.Report(e);
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
            _reports.Report(e);
        }
        _reports.Dispose();
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
