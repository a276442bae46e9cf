using System.Runtime.InteropServices;
using System.Runtime.Serialization;
using Akka.Actor;
using DistributedNN.Transport;
using static DistributedNN.Tests.Transport.TransportTestKit;

namespace DistributedNN.Tests.Transport;

[Trait(TestTiers.Category, TestTiers.Integration)]
public sealed class TensorChunkSerializerTests : Akka.TestKit.Xunit2.TestKit
{
    public TensorChunkSerializerTests() : base(TestKitSetup.RealNode()) { }

    private TensorChunkSerializer Serializer => new((ExtendedActorSystem)Sys);

    [Fact]
    public void The_configured_binding_picks_this_serializer_and_round_trips_a_chunk_bit_for_bit()
    {
        var values = Pattern(5_000, seed: 11);
        MemoryMarshal.Cast<float, int>(values.AsSpan())[0] = unchecked((int)0x80000000);
        MemoryMarshal.Cast<float, int>(values.AsSpan())[1] = 0x7FC0BEEF;
        var chunk = new TensorChunk(Header(TensorKind.ShardGradient, 20_000, shard: 3), 15_000, values);

        var serializer = Sys.Serialization.FindSerializerFor(chunk);
        Assert.IsType<TensorChunkSerializer>(serializer);
        Assert.Equal(1071, serializer.Identifier);
        string manifest = Akka.Serialization.Serialization.ManifestFor(serializer, chunk);
        Assert.Equal("tc1", manifest);

        byte[] bytes = serializer.ToBinary(chunk);
        Assert.Equal(56 + 4 * values.Length, bytes.Length);
        var back = Assert.IsType<TensorChunk>(Sys.Serialization.Deserialize(bytes, serializer.Identifier, manifest));
        Assert.Equal(chunk.Header, back.Header);
        Assert.Equal(chunk.Offset, back.Offset);
        AssertBitsEqual(values, back.Values);
    }

    [Fact]
    public void The_bytes_are_the_frame_header_then_offset_length_and_raw_floats()
    {
        var chunk = new TensorChunk(Header(TensorKind.Weights, 4), 2, [1.5f, -0f]);
        byte[] bytes = Serializer.ToBinary(chunk);
        Assert.Equal(HeaderBytes(chunk.Header), bytes[..48]);
        Assert.Equal(new byte[] { 2, 0, 0, 0, 2, 0, 0, 0 }, bytes[48..56]);
        Assert.Equal(BitConverter.GetBytes(1.5f), bytes[56..60]);
        Assert.Equal(new byte[] { 0, 0, 0, 0x80 }, bytes[60..64]);
    }

    [Fact]
    public void Default_chunks_fit_the_recommended_frame_size_and_small_chunks_stay_off_the_large_object_heap()
    {
        Assert.Equal(262_200, TensorChunkSerializer.SerializedSize(TensorChunker.DefaultChunkFloats));
        Assert.Contains("maximum-frame-size = 512000b", TensorChunkSerializer.RecommendedRemoteHocon);
        Assert.True(TensorChunkSerializer.SerializedSize(TensorChunker.SmallObjectChunkFloats) < 85_000);
        Assert.True(TensorChunkSerializer.SerializedSize(TensorChunker.SmallObjectChunkFloats) < 128_000); // Akka's default limit
    }

    [Fact]
    public void Truncated_or_inconsistent_bytes_are_a_serialization_error_with_a_reason()
    {
        var s = Serializer;
        byte[] good = s.ToBinary(new TensorChunk(Header(TensorKind.Weights, 100), 90, Pattern(10, seed: 12)));

        string Error(byte[] bytes, string manifest = "tc1") =>
            Assert.Throws<SerializationException>(() => s.FromBinary(bytes, manifest)).Message;

        Assert.Contains("truncated: 95 bytes for 10 floats, expected 96", Error(good[..95]));
        Assert.Contains("has trailing bytes: 97 bytes", Error([.. good, 0]));
        Assert.Contains("truncated: 20 bytes, a chunk has at least 56", Error(good[..20]));
        Assert.Contains("unknown manifest \"tc2\"", Error(good, "tc2"));
        var badMagic = (byte[])good.Clone();
        badMagic[0] ^= 1;
        Assert.Contains("not a tensor frame", Error(badMagic));
        var outside = (byte[])good.Clone();
        outside[48] = 95; // offset 95 + 10 floats > 100
        Assert.Contains("floats [95, 105) lie outside the tensor of 100 floats", Error(outside));
        var hugeLength = (byte[])good.Clone();
        hugeLength[55] = 0x7F; // length ≈ 2^31: refused on the range check, nothing allocated
        Assert.Contains("lie outside the tensor", Error(hugeLength));
    }

    [Fact]
    public void Chunker_and_assembler_restore_a_million_and_three_floats_exactly_through_the_serializer()
    {
        const int count = 1_000_003;
        var s = Serializer;
        var values = Pattern(count, seed: 13);
        var header = Header(TensorKind.Weights, count, step: 99, version: 98);

        var chunks = TensorChunker.Split(header, values).ToList();
        Assert.Equal(16, chunks.Count);
        Assert.Equal(TensorChunker.ChunkCount(count), chunks.Count);
        Assert.All(chunks, c => Assert.True(s.ToBinary(c).Length <= 262_200));

        var wire = chunks.Select(c => (TensorChunk)s.FromBinary(s.ToBinary(c), s.Manifest(c))).ToList();
        var shuffled = wire.OrderBy(c => (c.Offset * 2654435761u) % 97).ToList(); // any arrival order
        var destination = new float[count];
        var assembler = new TensorAssembler(header, destination);
        for (int i = 0; i < shuffled.Count; i++)
        {
            Assert.True(assembler.TryAdd(shuffled[i], out var rejection), rejection);
            Assert.Equal(i == shuffled.Count - 1, assembler.IsComplete);
        }
        AssertBitsEqual(values, destination);

        // a duplicate is refused and changes nothing
        var duplicate = wire[3] with { Values = new float[wire[3].Values.Length] };
        Assert.False(assembler.TryAdd(duplicate, out var why));
        Assert.Contains("overlaps floats already received", why);
        Assert.Throws<TensorProtocolException>(() => assembler.Add(duplicate));
        AssertBitsEqual(values, destination);
        Assert.Equal(count, assembler.ReceivedFloats);
    }
}

public sealed class TensorAssemblerTests
{
    [Fact]
    public void Chunks_outside_the_tensor_of_another_tensor_or_overlapping_are_refused()
    {
        var header = Header(TensorKind.ShardGradient, 10, shard: 2);
        var assembler = new TensorAssembler(header, new float[10]);

        Assert.False(assembler.TryAdd(new TensorChunk(header, 8, new float[3]), out var outside));
        Assert.Contains("outside the tensor of 10 floats", outside);
        Assert.False(assembler.TryAdd(new TensorChunk(header, -1, new float[1]), out _));
        Assert.False(assembler.TryAdd(new TensorChunk(header with { Step = 8 }, 0, new float[2]), out var other));
        Assert.Contains("another tensor", other);
        Assert.False(assembler.TryAdd(new TensorChunk(header, 0, []), out var empty));
        Assert.Contains("empty chunk", empty);

        Assert.True(assembler.TryAdd(new TensorChunk(header, 4, [4, 5, 6]), out _));
        Assert.False(assembler.TryAdd(new TensorChunk(header, 6, [6, 7]), out var overlapRight));
        Assert.Contains("[6, 8) overlaps floats already received [4, 7)", overlapRight);
        Assert.False(assembler.TryAdd(new TensorChunk(header, 2, [2, 3, 4]), out _));
        Assert.True(assembler.TryAdd(new TensorChunk(header, 0, [0, 1, 2, 3]), out _));
        Assert.False(assembler.IsComplete);
        Assert.True(assembler.TryAdd(new TensorChunk(header, 7, [7, 8, 9]), out _));
        Assert.True(assembler.IsComplete);
        Assert.Equal([0f, 1, 2, 3, 4, 5, 6, 7, 8, 9], assembler.Destination.ToArray());
    }

    [Fact]
    public void An_empty_tensor_travels_as_one_empty_chunk()
    {
        var header = Header(TensorKind.Weights, 0);
        var chunks = TensorChunker.Split(header, ReadOnlyMemory<float>.Empty).ToList();
        var chunk = Assert.Single(chunks);
        var assembler = new TensorAssembler(header, Memory<float>.Empty);
        Assert.False(assembler.IsComplete);
        Assert.True(assembler.Add(chunk));
        Assert.False(assembler.TryAdd(chunk, out var again));
        Assert.Contains("duplicate", again);
    }

    [Fact]
    public void The_chunker_checks_its_arguments_and_cuts_at_the_chunk_size()
    {
        var header = Header(TensorKind.Weights, 10);
        Assert.Throws<ArgumentException>(() => TensorChunker.Split(header, new float[9]));
        Assert.Throws<ArgumentOutOfRangeException>(() => TensorChunker.Split(header, new float[10], 0));
        var chunks = TensorChunker.Split(header, Enumerable.Range(0, 10).Select(i => (float)i).ToArray(), 4).ToList();
        Assert.Equal([0, 4, 8], chunks.Select(c => c.Offset));
        Assert.Equal([4, 4, 2], chunks.Select(c => c.Values.Length));
        Assert.All(chunks, c => Assert.Equal(header, c.Header));
    }
}
