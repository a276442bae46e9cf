using System.Buffers.Binary;
using System.Security.Cryptography;

namespace DistributedNN.Transport;

/// <summary>
/// A data-plane connection's frames after its mutual-TLS opening (<see cref="TensorHandshake"/>; docs/SECURITY.md,
/// "the data plane's records"): AES-256-GCM records of up to <see cref="MaxRecord"/> bytes, under a key per direction
/// that the two ends derived from 32 random bytes each sent through the TLS session. A record is the plaintext's length
/// (u32 LE, authenticated as associated data), the ciphertext, the 16-byte tag; its nonce is the count of records sent
/// before it in that direction, so a record altered, dropped, replayed or moved fails authentication, and no nonce is
/// used twice under a key.
/// <para>
/// Why not stay in TLS: SslStream moves a tensor 16 KB record by record, each through OpenSSL's memory buffers and a
/// socket read of its own; on a host held to 0.2 core that was half of a sharded worker's CPU per step (10.7 ms against
/// 5.8–7.1 without TLS; docs/BENCHMARKS.md, issue 14). A record here is one write of the caller's (a frame's header, or
/// up to 4 MB of its payload): one encryption into a buffer, one socket write; reading, one read of the record and one
/// decryption straight into the caller's memory.
/// </para>
/// Writes are serialized by the caller (a <see cref="TensorChannel"/> sends under its lock) and there is one reader.
/// Asynchronous use only.
/// </summary>
internal sealed class SealedStream : Stream
{
    /// <summary>The largest plaintext of one record (a channel writes at most 4 MiB at a time).</summary>
    public const int MaxRecord = 4 << 20;
    public const int KeySize = 32, RandomSize = 32, TagSize = 16;
    private const int LengthSize = 4, NonceSize = 12;

    private readonly Stream _inner;
    private readonly IDisposable? _retired;
    private readonly AesGcm _seal, _open;
    private readonly byte[] _sendNonce = new byte[NonceSize], _receiveNonce = new byte[NonceSize];
    private readonly byte[] _length = new byte[LengthSize];
    private ulong _sent, _received;
    private byte[] _sendBuffer = [], _receiveBuffer = [], _plain = [];
    private int _plainOffset, _plainCount;

    /// <param name="inner">the socket's stream, TLS no longer read or written on it</param>
    /// <param name="retired">the TLS session it replaced, disposed with this stream (after the socket is shut)</param>
    public SealedStream(Stream inner, ReadOnlySpan<byte> sendKey, ReadOnlySpan<byte> receiveKey, IDisposable? retired = null)
    {
        _inner = inner;
        _retired = retired;
        _seal = new AesGcm(sendKey, TagSize);
        _open = new AesGcm(receiveKey, TagSize);
    }

    /// <summary>
    /// The two directions' keys from both ends' random bytes (HKDF-SHA256): (what <paramref name="connector"/>'s end sends
    /// with, what it receives with). Each end gets the other's pair the other way round.
    /// </summary>
    public static (byte[] Send, byte[] Receive) Keys(ReadOnlySpan<byte> connectorRandom, ReadOnlySpan<byte> acceptorRandom, bool connector)
    {
        if (connectorRandom.Length != RandomSize || acceptorRandom.Length != RandomSize) throw new ArgumentException($"each end sends {RandomSize} random bytes");
        byte[] prk = HKDF.Extract(HashAlgorithmName.SHA256, [.. connectorRandom, .. acceptorRandom], "dnn sealed records v1"u8.ToArray());
        byte[] toAcceptor = HKDF.Expand(HashAlgorithmName.SHA256, prk, KeySize, "connector to acceptor"u8.ToArray());
        byte[] toConnector = HKDF.Expand(HashAlgorithmName.SHA256, prk, KeySize, "acceptor to connector"u8.ToArray());
        return connector ? (toAcceptor, toConnector) : (toConnector, toAcceptor);
    }

    /// <summary>Seals <paramref name="buffer"/> in records of at most <see cref="MaxRecord"/> bytes (an empty buffer: one empty record).</summary>
    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct = default)
    {
        do
        {
            int n = Math.Min(buffer.Length, MaxRecord);
            int size = Seal(buffer[..n]);
            await _inner.WriteAsync(_sendBuffer.AsMemory(0, size), ct).ConfigureAwait(false);
            buffer = buffer[n..];
        } while (!buffer.IsEmpty);
    }

    private int Seal(ReadOnlyMemory<byte> plain)
    {
        int n = plain.Length, size = LengthSize + n + TagSize;
        if (_sendBuffer.Length < size) _sendBuffer = GC.AllocateUninitializedArray<byte>(size);
        BinaryPrimitives.WriteInt32LittleEndian(_sendBuffer, n);
        Nonce(_sendNonce, _sent++);
        _seal.Encrypt(_sendNonce, plain.Span, _sendBuffer.AsSpan(LengthSize, n), _sendBuffer.AsSpan(LengthSize + n, TagSize), _sendBuffer.AsSpan(0, LengthSize));
        return size;
    }

    /// <summary>
    /// The next plaintext bytes (0: the peer closed between records). A record that fits is decrypted straight into
    /// <paramref name="buffer"/>; a larger one into a buffer of this stream, handed out over the next reads. Empty records are skipped.
    /// </summary>
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
    {
        if (buffer.IsEmpty) return 0;
        while (_plainCount == 0)
        {
            int n = await NextRecordAsync(ct).ConfigureAwait(false);
            if (n < 0) return 0;
            if (n == 0)
            {
                Open(0, []); // authenticated like any other, and counted
                continue;
            }
            if (n <= buffer.Length)
            {
                Open(n, buffer.Span[..n]);
                return n;
            }
            if (_plain.Length < n) _plain = GC.AllocateUninitializedArray<byte>(n);
            Open(n, _plain.AsSpan(0, n));
            (_plainOffset, _plainCount) = (0, n);
        }
        int take = Math.Min(buffer.Length, _plainCount);
        _plain.AsSpan(_plainOffset, take).CopyTo(buffer.Span);
        _plainOffset += take;
        _plainCount -= take;
        return take;
    }

    /// <summary>Reads the next record's length and sealed bytes into this stream's buffer: its plaintext length, or −1 when the peer closed before it.</summary>
    private async ValueTask<int> NextRecordAsync(CancellationToken ct)
    {
        int got = await _inner.ReadAtLeastAsync(_length, LengthSize, throwOnEndOfStream: false, ct).ConfigureAwait(false);
        if (got == 0) return -1;
        if (got < LengthSize) throw new EndOfStreamException("connection closed in the middle of a sealed record's length");
        int n = BinaryPrimitives.ReadInt32LittleEndian(_length);
        if ((uint)n > MaxRecord) throw new IOException($"the peer announced a sealed record of {n} bytes (at most {MaxRecord}): not this data plane's records");
        int size = n + TagSize;
        if (_receiveBuffer.Length < size) _receiveBuffer = GC.AllocateUninitializedArray<byte>(size);
        got = await _inner.ReadAtLeastAsync(_receiveBuffer.AsMemory(0, size), size, throwOnEndOfStream: false, ct).ConfigureAwait(false);
        if (got < size) throw new EndOfStreamException($"connection closed in the middle of a sealed record: got {got} of {size} bytes");
        return n;
    }

    /// <summary>Authenticates and decrypts the record just read (<paramref name="n"/> bytes) into <paramref name="plain"/>.</summary>
    private void Open(int n, Span<byte> plain)
    {
        Nonce(_receiveNonce, _received++);
        try
        {
            _open.Decrypt(_receiveNonce, _receiveBuffer.AsSpan(0, n), _receiveBuffer.AsSpan(n, TagSize), plain, _length);
        }
        catch (CryptographicException e)
        {
            throw new IOException("a sealed record from the peer failed authentication (altered, dropped, replayed or out of order)", e);
        }
    }

    /// <summary>The opening's last step on the accepting side: the connector's first record, empty, proves it has the same keys and reads no more TLS.</summary>
    public async Task ExpectEmptyRecordAsync(CancellationToken ct)
    {
        int n = await NextRecordAsync(ct).ConfigureAwait(false);
        if (n < 0) throw new EndOfStreamException("the peer closed the connection before its first sealed record");
        if (n != 0) throw new IOException($"the peer's first sealed record held {n} bytes: it should be empty");
        Open(0, []);
    }

    private static void Nonce(byte[] nonce, ulong count) => BinaryPrimitives.WriteUInt64LittleEndian(nonce.AsSpan(NonceSize - sizeof(ulong)), count);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) => ReadAsync(buffer.AsMemory(offset, count), ct).AsTask();
    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken ct) => WriteAsync(buffer.AsMemory(offset, count), ct).AsTask();
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("sealed records are read asynchronously");
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException("sealed records are written asynchronously");
    public override Task FlushAsync(CancellationToken ct) => _inner.FlushAsync(ct);
    public override void Flush() => _inner.Flush();
    public override bool CanRead => true;
    public override bool CanWrite => true;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _inner.Dispose();
            _retired?.Dispose();
            _seal.Dispose();
            _open.Dispose();
        }
        base.Dispose(disposing);
    }
}
