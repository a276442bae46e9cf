using System.Buffers;
using System.Net;
using System.Net.Sockets;

namespace DistributedNN.Transport;

/// <summary>
/// One duplex TCP connection of the tensor data plane; both ends use this class. Frames are laid out as
/// <see cref="TensorFrame"/> describes: a 48-byte header, then the raw float32 payload, written straight from the
/// caller's memory and read straight into the receiver's buffer (no per-element work, no payload-sized copy).
/// <para>
/// Sending is thread-safe: concurrent <see cref="SendAsync"/> calls are serialized, each frame goes out whole.
/// Receiving is one <see cref="ReceiveLoopAsync"/> per channel, feeding an <see cref="ITensorSink"/>.
/// </para>
/// <para>
/// Errors: every connection failure surfaces as an <see cref="IOException"/> — <see cref="TensorProtocolException"/>
/// for an invalid header, <see cref="EndOfStreamException"/> for a peer that closed in the middle of a frame, and a
/// plain IOException (wrapping the <see cref="SocketException"/>) for socket errors, an IOException "dropped the
/// connection … " for a peer that stalled in the middle of a frame (<see cref="TensorChannelOptions.StallTimeout"/>,
/// <see cref="StallWatch"/>). After any of them, after a send or receive cancelled part-way, and after a sink
/// exception, the connection is closed: the byte stream may be mid-frame and cannot be trusted.
/// </para>
/// </summary>
public sealed partial class TensorChannel : IAsyncDisposable, IDisposable
{
    /// <summary>The largest single socket call (payloads beyond 1 GiB go in several windows).</summary>
    private const int MaxWindowBytes = 1 << 30;

    /// <summary>The scratch buffer size used to skip the payload of a refused frame.</summary>
    private const int DiscardScratchBytes = 64 * 1024;

    /// <summary>The largest single write: each one that completes is progress for the <see cref="StallWatch"/>.</summary>
    private const int SendPieceBytes = 4 << 20;

    private readonly Socket _socket;
    /// <summary>What frames travel on: the socket's NetworkStream, or under TLS the <see cref="SealedStream"/> over it.</summary>
    private readonly Stream _stream;
    private readonly TensorChannelOptions _options;
    /// <summary>Drops a peer that stalls in the middle of a frame (null: no deadline); <see cref="_stalled"/> says how it did.</summary>
    private readonly StallWatch? _watch;
    private string? _stalled;
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly byte[] _sendHeader = new byte[TensorFrame.HeaderSize];
    private readonly byte[] _receiveHeader = new byte[TensorFrame.HeaderSize];
    private byte[]? _discardScratch;
    /// <summary>bfloat16 payloads are converted through these (grown to the largest frame, then reused).</summary>
    private byte[] _sendBf16 = [], _receiveBf16 = [];
    private long _bytesSent, _bytesReceived, _framesSent, _framesReceived, _framesDiscarded;
    private int _receiveStarted;
    private int _disposed;
    private int _closed;

    /// <summary>
    /// Wraps a connected TCP socket with no opening handshake (no TLS, no credentials): for tools and benchmarks whose
    /// two ends are both built this way. <see cref="ConnectAsync(IPEndPoint, TensorChannelOptions?, CancellationToken)"/>
    /// and <see cref="TensorListener"/> do the handshake of <see cref="TensorHandshake"/>. The channel owns the
    /// socket from then on (sets NoDelay, buffer sizes, keep-alive; closes it on dispose).
    /// </summary>
    public TensorChannel(Socket socket, TensorChannelOptions? options = null) : this(socket, null, options)
    {
    }

    /// <summary>A channel over <paramref name="stream"/> (the socket's stream after the handshake; null: a plain NetworkStream).</summary>
    internal TensorChannel(Socket socket, Stream? stream, TensorChannelOptions? options)
    {
        ArgumentNullException.ThrowIfNull(socket);
        TensorFrame.EnsureLittleEndian();
        if (socket.SocketType != SocketType.Stream || socket.ProtocolType != ProtocolType.Tcp)
            throw new ArgumentException("a tensor channel needs a TCP stream socket", nameof(socket));
        if (!socket.Connected || socket.RemoteEndPoint is not IPEndPoint remote || socket.LocalEndPoint is not IPEndPoint local)
            throw new ArgumentException("the socket is not connected", nameof(socket));
        _socket = socket;
        _stream = stream ?? new NetworkStream(socket, ownsSocket: false);
        _options = options ?? TensorChannelOptions.Default;
        TensorSocket.Configure(socket, _options);
        RemoteEndPoint = remote;
        LocalEndPoint = local;
        if (_options.StallTimeout != Timeout.InfiniteTimeSpan)
            _watch = new StallWatch(_options.StallTimeout, remote, stalled => { Volatile.Write(ref _stalled, stalled); Close(); });
    }

    /// <summary>Connects to a <see cref="TensorListener"/> (or any tensor channel endpoint) with the default options.</summary>
    public static Task<TensorChannel> ConnectAsync(IPEndPoint endpoint, CancellationToken ct) => ConnectAsync(endpoint, null, ct);

    /// <summary>
    /// Connects to <paramref name="endpoint"/> and does the opening handshake (TLS when <see cref="TensorChannelOptions.Tls"/>
    /// is set, then the credentials of <see cref="TensorChannelOptions.AccessToken"/>). Connection failures surface as
    /// <see cref="SocketException"/>, a refused handshake as <see cref="TensorAuthenticationException"/>.
    /// </summary>
    public static async Task<TensorChannel> ConnectAsync(IPEndPoint endpoint, TensorChannelOptions? options, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        options ??= TensorChannelOptions.Default;
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            TensorSocket.Configure(socket, options); // buffer sizes before connecting, so the TCP window scale can use them
            await socket.ConnectAsync(endpoint, ct).ConfigureAwait(false);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        return await TensorHandshake.OpenChannelAsync(socket, options, accepting: false, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Opens a channel on a socket already connected to a data-plane endpoint: the connecting side of the handshake
    /// (as <see cref="ConnectAsync(IPEndPoint, TensorChannelOptions?, CancellationToken)"/> does after connecting).
    /// The channel owns the socket; a refused handshake disposes it and throws <see cref="TensorAuthenticationException"/>.
    /// </summary>
    public static Task<TensorChannel> OpenAsync(Socket connected, TensorChannelOptions? options, CancellationToken ct) =>
        TensorHandshake.OpenChannelAsync(connected, options, accepting: false, ct);

    /// <summary>
    /// The accepting side of the handshake on an accepted socket (what <see cref="TensorListener"/> does for each
    /// connection). The channel owns the socket; a refused handshake disposes it and throws <see cref="TensorAuthenticationException"/>.
    /// </summary>
    public static Task<TensorChannel> AcceptAsync(Socket accepted, TensorChannelOptions? options, CancellationToken ct) =>
        TensorHandshake.OpenChannelAsync(accepted, options, accepting: true, ct);

    /// <summary>The peer's address (kept after the channel is closed).</summary>
    public IPEndPoint RemoteEndPoint { get; }

    /// <summary>This end's address.</summary>
    public IPEndPoint LocalEndPoint { get; }

    /// <summary>The options the channel runs with (<see cref="TensorChannelOptions.MaxCount"/> limits incoming frames).</summary>
    public TensorChannelOptions Options => _options;

    /// <summary>Payload bytes of completely sent tensor frames (count × 4 per frame; headers and the orders and results of <see cref="WorkFrames"/> not included).</summary>
    public long BytesSent => Interlocked.Read(ref _bytesSent);

    /// <summary>Payload bytes of completely received tensor frames, delivered or discarded (count × 4 per frame; headers and step notices not included).</summary>
    public long BytesReceived => Interlocked.Read(ref _bytesReceived);

    /// <summary>Frames completely sent.</summary>
    public long FramesSent => Interlocked.Read(ref _framesSent);

    /// <summary>Frames received and handed to <see cref="ITensorSink.Received"/>.</summary>
    public long FramesReceived => Interlocked.Read(ref _framesReceived);

    /// <summary>Frames the sink refused, whose payload was read and thrown away.</summary>
    public long FramesDiscarded => Interlocked.Read(ref _framesDiscarded);

    /// <summary>True once the connection is closed (disposed, or after an error).</summary>
    public bool IsClosed => Volatile.Read(ref _closed) != 0;

    /// <summary>
    /// Sends one frame: the header, then <paramref name="payload"/> straight from the caller's memory (pinned for the
    /// duration, handed to the socket as bytes). Concurrent calls are serialized; a frame is never interleaved with
    /// another. <paramref name="payload"/> must not change until the returned task completes.
    /// Cancelling while waiting for the send lock leaves the channel intact; cancelling (or failing) once the frame
    /// has started closes the channel, since the peer would see a truncated frame.
    /// </summary>
    /// <exception cref="ArgumentException">header.Count differs from payload.Length, or the header is invalid.</exception>
    /// <exception cref="IOException">The connection is closed or failed.</exception>
    /// <exception cref="ObjectDisposedException">The channel was disposed.</exception>
    public async ValueTask SendAsync(TensorHeader header, ReadOnlyMemory<float> payload, CancellationToken ct = default)
    {
        if (header.Count != payload.Length)
            throw new ArgumentException($"the header announces {header.Count} floats but the payload has {payload.Length}", nameof(payload));
        if (TensorFrame.Validate(header, int.MaxValue) is { } invalid)
            throw new ArgumentException($"invalid tensor header ({header}): {invalid}", nameof(header));
        ThrowIfClosed();
        await _sendLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            ThrowIfClosed();
            ct.ThrowIfCancellationRequested();
            TensorFrame.WriteHeader(header, _sendHeader);
            try
            {
                long total = header.PayloadBytes;
                if (total == 0) await SendAllAsync(_sendHeader, ct).ConfigureAwait(false);
                else if (TensorHeader.IsBf16(header.Kind))
                {
                    // rounded into a scratch buffer of the channel (under the send lock), then sent from there
                    if (_sendBf16.Length < total) _sendBf16 = GC.AllocateUninitializedArray<byte>((int)total);
                    Numerics.BFloat16.Narrow(payload.Span, System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ushort>(_sendBf16.AsSpan(0, (int)total)));
                    await SendHeaderWithAsync(_sendBf16.AsMemory(0, (int)total), ct).ConfigureAwait(false);
                }
                else
                {
                    using MemoryHandle pin = payload.Pin();
                    for (long offset = 0; offset < total; offset += MaxWindowBytes)
                    {
                        var window = PinnedBytes.Over(pin, offset, (int)Math.Min(MaxWindowBytes, total - offset));
                        await (offset == 0 ? SendHeaderWithAsync(window, ct) : SendAllAsync(window, ct)).ConfigureAwait(false);
                    }
                }
            }
            catch (Exception e)
            {
                Close();
                throw Failure(e, "sending");
            }
            _watch?.SendDone();
            if (!TensorHeader.IsNotice(header.Kind)) Interlocked.Add(ref _bytesSent, header.PayloadBytes);
            Interlocked.Increment(ref _framesSent);
        }
        finally
        {
            _sendLock.Release();
        }
    }

    /// <summary>
    /// Reads frames until the peer closes the connection or <paramref name="ct"/> is cancelled, handing each to
    /// <paramref name="sink"/> (see <see cref="ITensorSink"/>). Runs once per channel.
    /// <list type="bullet">
    /// <item>Completes normally (and closes this end) when the peer closes the connection between frames, or when this
    /// channel is disposed.</item>
    /// <item><see cref="TensorProtocolException"/> for an invalid header (bad magic, version or kind, reserved ≠ 0,
    /// count &lt; 0 or &gt; <see cref="TensorChannelOptions.MaxCount"/>, shard &lt; −1), raised before any payload
    /// byte is read or any buffer requested.</item>
    /// <item><see cref="EndOfStreamException"/> "connection closed in the middle of a frame: got X of Y payload bytes"
    /// (or header bytes) when the peer vanishes mid-frame.</item>
    /// <item><see cref="IOException"/> wrapping the <see cref="SocketException"/> on a socket error (e.g. reset); an
    /// IOException "dropped the connection … " when this channel closed itself on a stall (sending or receiving).</item>
    /// <item><see cref="InvalidOperationException"/> when the sink returns a destination of the wrong length;
    /// any exception the sink throws propagates as is.</item>
    /// <item><see cref="OperationCanceledException"/> when <paramref name="ct"/> is cancelled.</item>
    /// </list>
    /// Whenever it ends with an exception the connection is closed.
    /// </summary>
    public async Task ReceiveLoopAsync(ITensorSink sink, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(sink);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (Interlocked.Exchange(ref _receiveStarted, 1) != 0)
            throw new InvalidOperationException("a tensor channel runs one receive loop, and it has already been started");
        try
        {
            while (await ReceiveFrameAsync(sink, ct).ConfigureAwait(false))
            {
            }
            // a stall closed the connection: our own shutdown reads as the end of the stream
            if (Volatile.Read(ref _stalled) is { } stalled) throw new IOException(stalled);
            Close(); // the peer is done with the connection: so is this end (a listener's place is free)
        }
        catch (Exception e) when (Volatile.Read(ref _disposed) != 0 && e is SocketException or ObjectDisposedException or IOException)
        {
            // this channel was disposed while receiving: that ends the loop normally
        }
        catch (Exception e)
        {
            Close();
            throw Failure(e, "receiving");
        }
    }

    /// <summary>Reads one frame; false when the peer closed the connection cleanly before a new frame.</summary>
    private async ValueTask<bool> ReceiveFrameAsync(ITensorSink sink, CancellationToken ct)
    {
        int got = await ReadAsync(_receiveHeader, ct).ConfigureAwait(false);
        if (got == 0) return false;
        if (got < TensorFrame.HeaderSize)
            throw new EndOfStreamException($"connection closed in the middle of a frame: got {got} of {TensorFrame.HeaderSize} header bytes");
        if (!TensorFrame.TryReadHeader(_receiveHeader, _options.MaxCount, out TensorHeader header, out string? error))
            throw new TensorProtocolException($"tensor frame from {RemoteEndPoint} rejected: {error}");

        await sink.ReadyAsync(header).ConfigureAwait(false);
        if (sink.TryGetDestination(in header, out Memory<float> destination))
        {
            if (destination.Length != header.Count)
                throw new InvalidOperationException(
                    $"the tensor sink gave a destination of {destination.Length} floats for a frame of {header.Count} ({header})");
            if (TensorHeader.IsBf16(header.Kind))
            {
                int bytes = (int)header.PayloadBytes;
                if (_receiveBf16.Length < bytes) _receiveBf16 = GC.AllocateUninitializedArray<byte>(bytes);
                int read = await ReadAsync(_receiveBf16.AsMemory(0, bytes), ct).ConfigureAwait(false);
                if (read < bytes) throw new EndOfStreamException($"connection closed in the middle of a frame: got {read} of {bytes} payload bytes");
                Numerics.BFloat16.Widen(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ushort>(_receiveBf16.AsSpan(0, bytes)), destination.Span);
            }
            else await ReadPayloadAsync(destination, header.PayloadBytes, ct).ConfigureAwait(false);
            _watch?.ReceiveDone();
            if (!TensorHeader.IsNotice(header.Kind)) Interlocked.Add(ref _bytesReceived, header.PayloadBytes);
            Interlocked.Increment(ref _framesReceived);
            sink.Received(in header, destination);
        }
        else
        {
            await DiscardPayloadAsync(header.PayloadBytes, ct).ConfigureAwait(false);
            _watch?.ReceiveDone();
            if (!TensorHeader.IsNotice(header.Kind)) Interlocked.Add(ref _bytesReceived, header.PayloadBytes);
            Interlocked.Increment(ref _framesDiscarded);
        }
        return true;
    }

    private async ValueTask ReadPayloadAsync(Memory<float> destination, long total, CancellationToken ct)
    {
        if (total == 0) return;
        using MemoryHandle pin = destination.Pin();
        long done = 0;
        while (done < total)
        {
            int length = (int)Math.Min(MaxWindowBytes, total - done);
            int got = await ReadAsync(PinnedBytes.Over(pin, done, length), ct).ConfigureAwait(false);
            done += got;
            if (got < length)
                throw new EndOfStreamException($"connection closed in the middle of a frame: got {done} of {total} payload bytes");
        }
    }

    private async ValueTask DiscardPayloadAsync(long total, CancellationToken ct)
    {
        if (total == 0) return;
        byte[] scratch = _discardScratch ??= new byte[DiscardScratchBytes];
        long done = 0;
        while (done < total)
        {
            int length = (int)Math.Min(scratch.Length, total - done);
            int got = await ReadAsync(scratch.AsMemory(0, length), ct).ConfigureAwait(false);
            done += got;
            if (got < length)
                throw new EndOfStreamException($"connection closed in the middle of a frame: got {done} of {total} payload bytes (of a discarded frame)");
        }
    }

    /// <summary>Fills <paramref name="buffer"/>; returns fewer bytes only when the peer closed the connection.</summary>
    private async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int got = await _stream.ReadAsync(buffer[total..], ct).ConfigureAwait(false);
            if (got == 0) break;
            _watch?.ReceiveProgress();
            total += got;
        }
        return total;
    }

    /// <summary>What to throw for <paramref name="e"/>: the stall that closed the channel, if one did.</summary>
    private Exception Failure(Exception e, string action) => Volatile.Read(ref _stalled) is { } stalled ? new IOException(stalled, e)
        : TensorSocket.Translate(e, action, RemoteEndPoint, disposed: Volatile.Read(ref _disposed) != 0);

    private void ThrowIfClosed()
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (Volatile.Read(ref _closed) != 0)
            throw new IOException($"the tensor channel to {RemoteEndPoint} is closed");
    }

    /// <summary>Closes the connection once (FIN to the peer); pending socket operations end.</summary>
    private void Close()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0) return;
        _watch?.Dispose();
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // already reset by the peer
        }
        try
        {
            _stream.Dispose();
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            // a TLS stream may fail to say goodbye on a dead socket
        }
        _socket.Dispose();
    }

    /// <summary>
    /// Closes the connection: a running <see cref="ReceiveLoopAsync"/> ends promptly (normally), a send in progress
    /// fails with <see cref="ObjectDisposedException"/>, the peer sees the connection close.
    /// </summary>
    public void Dispose()
    {
        Interlocked.Exchange(ref _disposed, 1);
        Close();
    }

    /// <inheritdoc cref="Dispose"/>
    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }

    public override string ToString() => $"tensor channel {LocalEndPoint} ↔ {RemoteEndPoint}";
}
