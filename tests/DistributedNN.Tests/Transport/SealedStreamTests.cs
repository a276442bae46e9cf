using System.Buffers.Binary;
using System.Security.Cryptography;
using DistributedNN.Transport;

namespace DistributedNN.Tests.Transport;

/// <summary>The data plane's sealed records (after a TLS opening): what one end writes, the other reads, and nothing else.</summary>
public sealed class SealedStreamTests
{
    private static readonly byte[] ConnectorRandom = RandomNumberGenerator.GetBytes(SealedStream.RandomSize);
    private static readonly byte[] AcceptorRandom = RandomNumberGenerator.GetBytes(SealedStream.RandomSize);

    private static SealedStream Connector(Stream inner)
    {
        var (send, receive) = SealedStream.Keys(ConnectorRandom, AcceptorRandom, connector: true);
        return new SealedStream(inner, send, receive);
    }

    private static SealedStream Acceptor(Stream inner)
    {
        var (send, receive) = SealedStream.Keys(ConnectorRandom, AcceptorRandom, connector: false);
        return new SealedStream(inner, send, receive);
    }

    private static byte[] Pattern(int n) => Enumerable.Range(0, n).Select(i => (byte)(i * 31 + 7)).ToArray();

    /// <summary>What the connector's writes put on the wire.</summary>
    private static async Task<byte[]> SealAsync(params byte[][] writes)
    {
        var wire = new MemoryStream();
        await using var writer = Connector(wire);
        foreach (var w in writes) await writer.WriteAsync(w);
        return wire.ToArray();
    }

    private static async Task<byte[]> ReadAllAsync(byte[] wire, int chunk)
    {
        await using var reader = Acceptor(new MemoryStream(wire));
        var all = new MemoryStream();
        var buffer = new byte[chunk];
        int got;
        while ((got = await reader.ReadAsync(buffer)) > 0) all.Write(buffer, 0, got);
        return all.ToArray();
    }

    [Theory]
    [InlineData(1)]
    [InlineData(48)]
    [InlineData(1 << 20)]
    [InlineData(SealedStream.MaxRecord + 7)]
    public async Task What_one_end_writes_the_other_reads_whatever_its_read_sizes(int readSize)
    {
        byte[] header = Pattern(48), payload = Pattern(SealedStream.MaxRecord + 5), tail = Pattern(3);
        var wire = await SealAsync(header, [], payload, tail); // the empty write: an empty record, skipped by the reader
        Assert.Equal(4 * 5 + 16 * 5 + header.Length + payload.Length + tail.Length, wire.Length); // the payload in two records
        var read = await ReadAllAsync(wire, readSize);
        Assert.Equal([.. header, .. payload, .. tail], read);
    }

    [Fact]
    public async Task The_wire_carries_no_plaintext()
    {
        var payload = Pattern(100_000);
        var wire = await SealAsync(payload);
        Assert.Equal(-1, wire.AsSpan().IndexOf(payload.AsSpan(1000, 64)));
    }

    [Fact]
    public async Task An_altered_byte_fails_authentication()
    {
        var wire = await SealAsync(Pattern(48), Pattern(5000));
        wire[4 + 48 + 16 + 4 + 100] ^= 1; // in the second record's ciphertext
        var e = await Assert.ThrowsAsync<IOException>(() => ReadAllAsync(wire, 1 << 16));
        Assert.Contains("failed authentication", e.Message);
    }

    [Fact]
    public async Task A_replayed_or_reordered_record_fails_authentication()
    {
        var one = await SealAsync(Pattern(48));
        var replayed = await ReadAllAsync([.. one, .. one], 1 << 16).ContinueWith(t => t.Exception?.InnerException);
        Assert.IsType<IOException>(replayed);

        var two = await SealAsync(Pattern(48), Pattern(48).Reverse().ToArray());
        int record = 4 + 48 + 16;
        byte[] swapped = [.. two.AsSpan(record, record), .. two.AsSpan(0, record)];
        await Assert.ThrowsAsync<IOException>(() => ReadAllAsync(swapped, 1 << 16));
    }

    [Fact]
    public async Task Each_direction_has_its_own_key()
    {
        var (connectorSend, connectorReceive) = SealedStream.Keys(ConnectorRandom, AcceptorRandom, connector: true);
        var (acceptorSend, acceptorReceive) = SealedStream.Keys(ConnectorRandom, AcceptorRandom, connector: false);
        Assert.Equal(connectorSend, acceptorReceive);
        Assert.Equal(acceptorSend, connectorReceive);
        Assert.NotEqual(connectorSend, connectorReceive);
        Assert.NotEqual(connectorSend, SealedStream.Keys(RandomNumberGenerator.GetBytes(32), AcceptorRandom, connector: true).Send);

        // a record reflected back to its sender does not open
        var wire = await SealAsync(Pattern(48));
        await using var sender = Connector(new MemoryStream(wire));
        await Assert.ThrowsAsync<IOException>(() => sender.ReadAsync(new byte[64]).AsTask());
    }

    [Fact]
    public async Task A_stream_cut_inside_a_record_is_an_error_and_between_records_the_end()
    {
        var wire = await SealAsync(Pattern(48), Pattern(48));
        Assert.Equal(96, (await ReadAllAsync(wire, 64)).Length);
        Assert.Equal(48, (await ReadAllAsync(wire[..(4 + 48 + 16)], 64)).Length);
        await Assert.ThrowsAsync<EndOfStreamException>(() => ReadAllAsync(wire[..(4 + 48 + 16 + 10)], 64));
        await Assert.ThrowsAsync<EndOfStreamException>(() => ReadAllAsync(wire[..(4 + 48 + 16 + 2)], 64));
    }

    [Fact]
    public async Task An_announced_record_beyond_the_limit_is_refused_before_it_is_read()
    {
        var wire = new byte[4 + 100];
        BinaryPrimitives.WriteInt32LittleEndian(wire, SealedStream.MaxRecord + 1);
        var e = await Assert.ThrowsAsync<IOException>(() => ReadAllAsync(wire, 64));
        Assert.Contains("at most", e.Message);
    }

    [Fact]
    public async Task The_accepting_end_waits_for_an_empty_first_record()
    {
        await using (var reader = Acceptor(new MemoryStream(await SealAsync(new byte[0]))))
            await reader.ExpectEmptyRecordAsync(CancellationToken.None);
        await using (var reader = Acceptor(new MemoryStream(await SealAsync(Pattern(1)))))
            await Assert.ThrowsAsync<IOException>(() => reader.ExpectEmptyRecordAsync(CancellationToken.None));
        await using (var reader = Acceptor(new MemoryStream([])))
            await Assert.ThrowsAsync<EndOfStreamException>(() => reader.ExpectEmptyRecordAsync(CancellationToken.None));
    }

    [Fact]
    public async Task A_joined_write_puts_the_same_records_on_the_wire_as_two_writes()
    {
        byte[] header = Pattern(48), payload = Pattern(SealedStream.MaxRecord + 9);
        var joined = new MemoryStream();
        await using (var writer = Connector(joined))
        {
            await writer.WriteAsync(header, payload); // the header's record and the payload's first in one inner write
            await writer.WriteAsync(header, ReadOnlyMemory<byte>.Empty); // nothing to join: the header's record alone
        }
        Assert.Equal(await SealAsync(header, payload, header), joined.ToArray());
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(4099)]
    public async Task Records_arriving_in_pieces_of_any_size_read_the_same(int piece)
    {
        byte[] header = Pattern(48), payload = Pattern(300_001), tail = Pattern(5);
        var wire = await SealAsync(header, payload, [], header, tail);
        await using var reader = Acceptor(new Trickle(wire, piece));
        var all = new MemoryStream();
        var buffer = new byte[65_536];
        int got;
        while ((got = await reader.ReadAsync(buffer)) > 0) all.Write(buffer, 0, got);
        Assert.Equal([.. header, .. payload, .. header, .. tail], all.ToArray());
    }

    [Fact]
    public async Task A_small_record_after_a_large_one_comes_in_the_same_socket_read()
    {
        // frames of a header record (48 bytes) and a payload record, back to back as they arrive from a peer
        byte[] header = Pattern(48), payload = Pattern(117_000);
        var wire = await SealAsync(header, payload, header, payload, header, payload);
        var socket = new Trickle(wire, int.MaxValue);
        await using var reader = Acceptor(socket);
        var destination = new byte[payload.Length];
        for (int frame = 0; frame < 3; frame++)
        {
            Assert.Equal(48, await reader.ReadAsync(destination.AsMemory(0, 48)));
            Assert.Equal(payload.Length, await reader.ReadAsync(destination));
            Assert.Equal(payload, destination);
        }
        // a read for the first header's length (taking the whole header record and the next length with it), then one
        // for each payload record, which also takes the next header record: 4 reads, where a read per length and per
        // record would take 12
        Assert.Equal(4, socket.Reads);
    }

    [Fact]
    public async Task A_reader_holds_at_most_one_largest_record_and_its_look_ahead()
    {
        // a record of 2.2 MB, then the largest: doubling the first's buffer would hold 4.4 MB
        var wire = await SealAsync(Pattern(48), Pattern(2_200_000), Pattern(48), Pattern(SealedStream.MaxRecord), Pattern(48), Pattern(1000));
        await using var reader = Acceptor(new Trickle(wire, 1 << 20));
        var buffer = new byte[SealedStream.MaxRecord];
        while (await reader.ReadAsync(buffer) > 0) { }
        Assert.InRange(reader.ReceiveCapacity, SealedStream.MaxRecord, SealedStream.MaxRecord + (64 << 10));
    }

    /// <summary>A socket stand-in: each read returns at most <c>piece</c> bytes of the wire; counts the reads.</summary>
    private sealed class Trickle(byte[] wire, int piece) : Stream
    {
        private int _at;
        public int Reads { get; private set; }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
        {
            Reads++;
            int n = Math.Min(Math.Min(buffer.Length, piece), wire.Length - _at);
            wire.AsSpan(_at, n).CopyTo(buffer.Span);
            _at += n;
            return ValueTask.FromResult(n);
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override void Flush() { }
        public override bool CanRead => true;
        public override bool CanWrite => false;
        public override bool CanSeek => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
