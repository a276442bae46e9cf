using System.Buffers.Binary;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;

namespace DistributedNN.Transport;

/// <summary>
/// The opening of every data-plane connection (docs/DATA_PLANE.md), before any tensor frame:
/// <list type="number">
/// <item>with <see cref="TensorChannelOptions.Tls"/>: a mutual TLS handshake — each side presents the cluster's
/// certificate and accepts only a peer whose certificate chains to a trusted one;</item>
/// <item>the connecting side sends a 48-byte hello: magic 'D','N','N','H' (u32 LE), version u8 = 2, 3 reserved zero
/// bytes, the 32-byte access token, 8 reserved zero bytes;</item>
/// <item>the accepting side answers 8 bytes: magic 'D','N','N','A', status u8 (0 accepted, 1 wrong credentials,
/// 2 malformed hello), 3 reserved zero bytes — and closes the connection unless it accepted;</item>
/// <item>with TLS, the hello and the reply are each followed by 32 random bytes of their sender (zeros in a refusal);
/// both ends derive a key per direction from the two (<see cref="SealedStream.Keys"/>) and leave TLS for
/// <see cref="SealedStream"/> records: the connecting side sends an empty record first, and the accepting side sends
/// nothing until it has read it. Neither end writes past the last TLS message the other still reads through TLS (the
/// hello, then the reply), so no sealed byte can be taken in by the TLS reader.</item>
/// </list>
/// A worker's listener requires the token it sent the coordinator in its registration (over the control plane), so
/// only the coordinator it registered with can connect. The whole opening must finish within
/// <see cref="TensorChannelOptions.HandshakeTimeout"/>.
/// </summary>
public static class TensorHandshake
{
    public const int HelloSize = 48;
    public const int ReplySize = 8;
    public const int TokenSize = 32;
    public const uint HelloMagic = 0x484E4E44; // 'D','N','N','H'
    public const uint ReplyMagic = 0x414E4E44; // 'D','N','N','A'
    public const byte Version = 3; // 2: sealed records after TLS; 3: their key is 128 bits

    private const byte Accepted = 0, WrongCredentials = 1, Malformed = 2;

    /// <summary>A fresh random access token.</summary>
    public static byte[] NewToken() => RandomNumberGenerator.GetBytes(TokenSize);

    /// <summary>
    /// The token a worker's listener takes from the other workers of a sharded job: derived from its access token, so the
    /// coordinator can hand it to them without handing out the access token (which alone opens the coordinator's link).
    /// </summary>
    public static byte[] PeerToken(ReadOnlySpan<byte> accessToken) =>
        SHA256.HashData([.. "dnn-peer-token-v1"u8, .. accessToken]);

    /// <summary>Writes a hello carrying <paramref name="token"/> (zeros when null).</summary>
    public static byte[] Hello(ReadOnlySpan<byte> token)
    {
        var hello = new byte[HelloSize];
        BinaryPrimitives.WriteUInt32LittleEndian(hello, HelloMagic);
        hello[4] = Version;
        if (!token.IsEmpty) token.CopyTo(hello.AsSpan(8, TokenSize));
        return hello;
    }

    /// <summary>A channel on <paramref name="socket"/> once its side of the opening succeeded; the socket disposed when it did not.</summary>
    internal static async Task<TensorChannel> OpenChannelAsync(Socket socket, TensorChannelOptions? options, bool accepting, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(socket);
        options ??= TensorChannelOptions.Default;
        try
        {
            if (socket.RemoteEndPoint is not IPEndPoint remote) throw new IOException("the peer left before its connection was set up");
            bool peer = false;
            Stream stream;
            if (accepting) (stream, peer) = await AcceptAsync(socket, remote, options, ct).ConfigureAwait(false);
            else stream = await ConnectAsync(socket, remote, options, ct).ConfigureAwait(false);
            return new TensorChannel(socket, stream, options) { IsPeer = peer };
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>The connecting side: TLS when configured, hello, reply. Returns the stream frames then travel on.</summary>
    /// <exception cref="TensorAuthenticationException">The peer refused us, or is not a trusted data-plane endpoint.</exception>
    internal static async Task<Stream> ConnectAsync(Socket socket, IPEndPoint remote, TensorChannelOptions options, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(options.HandshakeTimeout);
        Stream plain = new NetworkStream(socket, ownsSocket: false), stream = plain;
        SslStream? ssl = null;
        try
        {
            if (options.Tls is { } tls) stream = ssl = await SecureAsync(plain, tls, accepting: false, remote, timeout.Token).ConfigureAwait(false);
            byte[] mine = ssl is null ? [] : RandomNumberGenerator.GetBytes(SealedStream.RandomSize);
            await stream.WriteAsync((byte[])[.. Hello(options.AccessToken), .. mine], timeout.Token).ConfigureAwait(false);
            var reply = new byte[ReplySize + mine.Length];
            try
            {
                await stream.ReadExactlyAsync(reply, timeout.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or AuthenticationException)
            {
                throw new TensorAuthenticationException($"the data plane at {remote} closed the connection during the handshake " +
                    (options.Tls is null ? "(does it require TLS?)" : "(is this node's certificate trusted there?)"), e);
            }
            if (BinaryPrimitives.ReadUInt32LittleEndian(reply) != ReplyMagic)
                throw new TensorAuthenticationException($"{remote} is not a data-plane endpoint (its handshake reply starts 0x{BinaryPrimitives.ReadUInt32LittleEndian(reply):X8})");
            switch (reply[4])
            {
                case Accepted: return ssl is null ? stream : await SealAsync(plain, ssl, mine, reply.AsSpan(ReplySize).ToArray(), timeout.Token).ConfigureAwait(false);
                case WrongCredentials: throw new TensorAuthenticationException($"the data plane at {remote} refused this connection: wrong credentials");
                default: throw new TensorAuthenticationException($"the data plane at {remote} refused this connection (status {reply[4]})");
            }
        }
        catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
        {
            await DisposeAsync(stream, plain).ConfigureAwait(false);
            throw new TensorAuthenticationException($"no handshake with the data plane at {remote} within {options.HandshakeTimeout.TotalSeconds:0.#} s", e);
        }
        catch
        {
            await DisposeAsync(stream, plain).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>The connecting side leaves TLS: its first sealed record, empty, tells the accepting side it may write.</summary>
    private static async Task<Stream> SealAsync(Stream plain, SslStream ssl, byte[] mine, byte[] theirs, CancellationToken ct)
    {
        var (send, receive) = SealedStream.Keys(mine, theirs, connector: true);
        var sealedStream = new SealedStream(plain, send, receive, retired: ssl);
        await sealedStream.WriteAsync(ReadOnlyMemory<byte>.Empty, ct).ConfigureAwait(false);
        return sealedStream;
    }

    private static async Task DisposeAsync(Stream stream, Stream plain)
    {
        await stream.DisposeAsync().ConfigureAwait(false);
        await plain.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>The accepting side: TLS when configured, read the hello, check the token (or the peer token), reply.</summary>
    /// <exception cref="TensorAuthenticationException">The peer was refused (and told so when the protocol lets us).</exception>
    internal static async Task<(Stream Stream, bool Peer)> AcceptAsync(Socket socket, IPEndPoint remote, TensorChannelOptions options, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(options.HandshakeTimeout);
        Stream plain = new NetworkStream(socket, ownsSocket: false), stream = plain;
        SslStream? ssl = null;
        try
        {
            if (options.Tls is { } tls) stream = ssl = await SecureAsync(plain, tls, accepting: true, remote, timeout.Token).ConfigureAwait(false);
            byte[] extra = ssl is null ? [] : new byte[SealedStream.RandomSize]; // zeros in a refusal
            var hello = new byte[HelloSize];
            int got = 0;
            try
            {
                got = await stream.ReadAtLeastAsync(hello, HelloSize, throwOnEndOfStream: false, timeout.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or AuthenticationException)
            {
                throw new TensorAuthenticationException($"refused a data-plane connection from {remote}: {Reason(e)}", e);
            }
            if (got < HelloSize)
                throw new TensorAuthenticationException($"refused a data-plane connection from {remote}: it closed after {got} of the {HelloSize} hello bytes");
            if (BinaryPrimitives.ReadUInt32LittleEndian(hello) != HelloMagic || hello[4] != Version
                || hello.AsSpan(5, 3).ContainsAnyExcept((byte)0) || hello.AsSpan(40, 8).ContainsAnyExcept((byte)0))
            {
                await ReplyAsync(stream, Malformed, extra, timeout.Token).ConfigureAwait(false);
                throw new TensorAuthenticationException($"refused a data-plane connection from {remote}: not a data-plane hello (first bytes 0x{BinaryPrimitives.ReadUInt32LittleEndian(hello):X8})");
            }
            bool peer = options.PeerToken is { } peerToken && CryptographicOperations.FixedTimeEquals(peerToken, hello.AsSpan(8, TokenSize));
            if (!peer && options.AccessToken is { } token && !CryptographicOperations.FixedTimeEquals(token, hello.AsSpan(8, TokenSize)))
            {
                await ReplyAsync(stream, WrongCredentials, extra, timeout.Token).ConfigureAwait(false);
                throw new TensorAuthenticationException($"refused a data-plane connection from {remote}: wrong credentials");
            }
            if (ssl is null)
            {
                await ReplyAsync(stream, Accepted, extra, timeout.Token).ConfigureAwait(false);
                return (stream, peer);
            }
            var theirs = new byte[SealedStream.RandomSize];
            await stream.ReadExactlyAsync(theirs, timeout.Token).ConfigureAwait(false);
            RandomNumberGenerator.Fill(extra);
            await ReplyAsync(stream, Accepted, extra, timeout.Token).ConfigureAwait(false);
            var (send, receive) = SealedStream.Keys(theirs, extra, connector: false);
            var sealedStream = new SealedStream(plain, send, receive, retired: ssl);
            stream = sealedStream;
            await sealedStream.ExpectEmptyRecordAsync(timeout.Token).ConfigureAwait(false); // the connector reads no more TLS: writing is safe
            return (sealedStream, peer);
        }
        catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
        {
            await DisposeAsync(stream, plain).ConfigureAwait(false);
            throw new TensorAuthenticationException($"refused a data-plane connection from {remote}: no handshake within {options.HandshakeTimeout.TotalSeconds:0.#} s", e);
        }
        catch
        {
            await DisposeAsync(stream, plain).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Mutual TLS over <paramref name="plain"/>: the SslStream frames travel on, or a TensorAuthenticationException.</summary>
    private static async Task<SslStream> SecureAsync(Stream plain, Security.ClusterTls tls, bool accepting, IPEndPoint remote, CancellationToken ct)
    {
        string? refusal = null;
        var ssl = new SslStream(plain, leaveInnerStreamOpen: true); // the socket's stream carries the sealed records after it
        try
        {
            if (accepting) await ssl.AuthenticateAsServerAsync(tls.ServerOptions(r => refusal = r), ct).ConfigureAwait(false);
            else await ssl.AuthenticateAsClientAsync(tls.ClientOptions(remote.Address.ToString(), r => refusal = r), ct).ConfigureAwait(false);
            return ssl;
        }
        catch (Exception e)
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            if (e is not (AuthenticationException or IOException)) throw;
            string why = refusal ?? Reason(e);
            throw new TensorAuthenticationException(accepting
                ? $"refused a data-plane connection from {remote}: TLS failed ({why})"
                : $"TLS with the data plane at {remote} failed: {why}", e);
        }
    }

    private static async Task ReplyAsync(Stream stream, byte status, byte[] extra, CancellationToken ct)
    {
        var reply = new byte[ReplySize + extra.Length];
        extra.CopyTo(reply, ReplySize);
        BinaryPrimitives.WriteUInt32LittleEndian(reply, ReplyMagic);
        reply[4] = status;
        try
        {
            await stream.WriteAsync(reply, ct).ConfigureAwait(false);
            await stream.FlushAsync(ct).ConfigureAwait(false);
        }
        catch (IOException)
        {
            // the peer is gone already; the refusal stands
        }
    }

    private static string Reason(Exception e)
    {
        var inner = e;
        while (inner.InnerException is not null) inner = inner.InnerException;
        return inner == e ? e.Message : $"{e.Message} ({inner.Message})";
    }
}

