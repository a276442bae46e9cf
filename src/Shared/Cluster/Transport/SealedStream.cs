using System.Buffers.Binary;
using System.Security.Cryptography;

namespace DistributedNN.Transport;

/// <summary>
/// A data-plane connection's frames after its mutual-TLS opening (<see cref="TensorHandshake"/>; docs/SECURITY.md,
/// "the data plane's records"): AES-128-GCM records of up to <see cref="MaxRecord"/> bytes, under a key per direction
/// that the two ends derived from 32 random bytes each sent through the TLS session. A record is the plaintext's length
/// (u32 LE, authenticated as associated data), the ciphertext, the 16-byte tag; its nonce is the count of records sent
/// before it in that direction, so a record altered, dropped, replayed or moved fails authentication, and no nonce is
/// used twice under a key.
/// <para>
/// Why not stay in TLS: SslStream moves a tensor 16 KB record by record, each through OpenSSL's memory buffers and a
/// socket read of its own; on a host held to 0.2 core that was half of a sharded worker's CPU per step (10.7 ms against
/// 5.8–7.1 without TLS; docs/BENCHMARKS.md, issue 14). A record here is one write of the caller's (a frame's header, or
/// up to 4 MB of its payload; a header and its payload's first record together): one encryption into a buffer, one socket
/// write; reading, the record's bytes and up to 4 KB beyond them in one socket read, one decryption straight into the
/// caller's memory. 128-bit keys, as TLS 1.3's default suite: AES-256 took 45% more CPU per byte on the hosts measured
/// (OpenSSL 2.9 against 4.2 GB/s on one Zen 4 core).
/// </para>
/// Writes are serialized by the caller (a <see cref="TensorChannel"/> sends under its lock) and there is one reader.
/// Asynchronous use only.
/// </summary>
internal sealed class SealedStream : Stream
{
    /// <summary>The largest plaintext of one record (a channel writes at most 4 MiB at a time).</summary>
    public const int MaxRecord = 4 << 20;
    public const int KeySize = 16, RandomSize = 32, TagSize = 16;
    private const int LengthSize = 4, NonceSize = 12;

    private readonly Stream _inner;
    private readonly IDisposable? _retired;
    private readonly AesGcm _seal, _open;
    private readonly byte[] _sendNonce = new byte[NonceSize], _receiveNonce = new byte[NonceSize];
    private ulong _sent, _received;
    private byte[] _sendBuffer = [], _plain = [];
    private int _plainOffset, _plainCount;
    // what came from the socket and is not read yet: [_inStart, _inEnd) of _in; the last record read starts at _record
    private byte[] _in = new byte[InitialIn];
    private int _inStart, _inEnd, _record;
    private const int InitialIn = 64 << 10;
    /// <summary>How far a socket read may go past the record it completes: the next records' lengths and a header record come with it.</summary>
    private const int Lookahead = 4 << 10;

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
        byte[] prk = HKDF.Extract(HashAlgorithmName.SHA256, [.. connectorRandom, .. acceptorRandom], "dnn sealed records v3"u8.ToArray());
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
            Reserve(RecordSize(n));
            int size = Seal(buffer.Span[..n], 0);
            await _inner.WriteAsync(_sendBuffer.AsMemory(0, size), ct).ConfigureAwait(false);
            buffer = buffer[n..];
        } while (!buffer.IsEmpty);
    }

    /// <summary>
    /// The records of a write of <paramref name="first"/> and then of <paramref name="second"/> (nothing for an empty
    /// <paramref name="second"/>), the first two in one socket write: a frame's header and its payload leave together
    /// (one system call, one segment train) rather than the header alone. The same records as the two writes.
    /// </summary>
    public async ValueTask WriteAsync(ReadOnlyMemory<byte> first, ReadOnlyMemory<byte> second, CancellationToken ct = default)
    {
        if (second.IsEmpty)
        {
            await WriteAsync(first, ct).ConfigureAwait(false);
            return;
        }
        if (first.Length > MaxRecord) throw new ArgumentException($"the first part of a joined write is one record (at most {MaxRecord} bytes)", nameof(first));
        int n = Math.Min(second.Length, MaxRecord);
        Reserve(RecordSize(first.Length) + RecordSize(n));
        int size = Seal(first.Span, 0);
        size = Seal(second.Span[..n], size);
        await _inner.WriteAsync(_sendBuffer.AsMemory(0, size), ct).ConfigureAwait(false);
        if (second.Length > n) await WriteAsync(second[n..], ct).ConfigureAwait(false);
    }

    private static int RecordSize(int plain) => LengthSize + plain + TagSize;

    private void Reserve(int size)
    {
        if (_sendBuffer.Length < size) _sendBuffer = GC.AllocateUninitializedArray<byte>(size);
    }

    /// <summary>Seals <paramref name="plain"/> as the next record at <paramref name="at"/> of the send buffer; returns where it ends.</summary>
    private int Seal(ReadOnlySpan<byte> plain, int at)
    {
        int n = plain.Length;
        var record = _sendBuffer.AsSpan(at, RecordSize(n));
        BinaryPrimitives.WriteInt32LittleEndian(record, n);
        Nonce(_sendNonce, _sent++);
        _seal.Encrypt(_sendNonce, plain, record.Slice(LengthSize, n), record.Slice(LengthSize + n, TagSize), record[..LengthSize]);
        return at + record.Length;
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

    /// <summary>
    /// Reads the next record into this stream's buffer (<see cref="_record"/>: its length, then its sealed bytes): its plaintext
    /// length, or −1 when the peer closed before it. A socket read takes what the record still lacks and up to
    /// <see cref="Lookahead"/> bytes more, so the small records between payloads cost no read of their own.
    /// </summary>
    private async ValueTask<int> NextRecordAsync(CancellationToken ct)
    {
        if (!await FillAsync(LengthSize, ct).ConfigureAwait(false))
        {
            if (_inEnd == _inStart) return -1;
            throw new EndOfStreamException("connection closed in the middle of a sealed record's length");
        }
        int n = BinaryPrimitives.ReadInt32LittleEndian(_in.AsSpan(_inStart));
        if ((uint)n > MaxRecord) throw new IOException($"the peer announced a sealed record of {n} bytes (at most {MaxRecord}): not this data plane's records");
        int size = RecordSize(n);
        if (!await FillAsync(size, ct).ConfigureAwait(false))
            throw new EndOfStreamException($"connection closed in the middle of a sealed record: got {_inEnd - _inStart - LengthSize} of {n + TagSize} bytes");
        _record = _inStart;
        _inStart += size;
        return n;
    }

    /// <summary>The bytes this stream holds for what it reads (the tests watch it stay within one largest record and a look-ahead).</summary>
    internal int ReceiveCapacity => _in.Length;

    /// <summary>Until at least <paramref name="need"/> unread bytes are in: false if the peer closed first.</summary>
    private async ValueTask<bool> FillAsync(int need, CancellationToken ct)
    {
        int unread = _inEnd - _inStart;
        if (unread >= need) return true;
        if (_in.Length - _inStart < need + Lookahead)
        {
            // the unread bytes (at most what the last read took past its record) to the front, of a larger buffer if need be
            // (doubling, but never beyond the largest record and a look-ahead: a connection holds at most ~4 MB here)
            var target = _in.Length < need + Lookahead
                ? GC.AllocateUninitializedArray<byte>(Math.Max(need + Lookahead, Math.Min(2 * _in.Length, RecordSize(MaxRecord) + Lookahead)))
                : _in;
            Buffer.BlockCopy(_in, _inStart, target, 0, unread);
            (_in, _inStart, _inEnd) = (target, 0, unread);
        }
        while (_inEnd - _inStart < need)
        {
            int want = Math.Min(_in.Length - _inEnd, need - (_inEnd - _inStart) + Lookahead);
            int got = await _inner.ReadAsync(_in.AsMemory(_inEnd, want), ct).ConfigureAwait(false);
            if (got == 0) return false;
            _inEnd += got;
        }
        return true;
    }

    /// <summary>Authenticates and decrypts the record just read (<paramref name="n"/> bytes) into <paramref name="plain"/>.</summary>
    private void Open(int n, Span<byte> plain)
    {
        Nonce(_receiveNonce, _received++);
        var record = _in.AsSpan(_record, RecordSize(n));
        try
        {
            _open.Decrypt(_receiveNonce, record.Slice(LengthSize, n), record.Slice(LengthSize + n, TagSize), plain, record[..LengthSize]);
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
