namespace DistributedNN.Transport;

/// <summary>Cuts a tensor into <see cref="TensorChunk"/> messages for the Akka.Remote fallback transport.</summary>
public static class TensorChunker
{
    /// <summary>65,536 floats = 256 KiB of payload per chunk (262,200 bytes serialized).</summary>
    public const int DefaultChunkFloats = 65536;

    /// <summary>
    /// 16,384 floats = 64 KiB per chunk (65,592 bytes serialized): below .NET's 85,000-byte large-object threshold, so
    /// neither the serializer's byte[] nor the received float[] lands on the large-object heap, and below Akka's default
    /// maximum-frame-size of 128,000 bytes. Measured with bench/DataPlaneBench on 2 cores: ToBinary/FromBinary run at
    /// ~10 GB/s steadily with such chunks, while 256 KiB chunks swing between ~10 and ~0.3 GB/s depending on the GC's
    /// large-object budget (a gen2 collection every ~12 chunks, and freshly committed memory for each array).
    /// </summary>
    public const int SmallObjectChunkFloats = 16_384;

    /// <summary>
    /// The chunks of <paramref name="payload"/>, in order, each <paramref name="chunkFloats"/> floats (the last one
    /// shorter). Every chunk carries the whole tensor's <paramref name="header"/>. An empty payload gives one empty
    /// chunk, so the receiver still learns that the tensor is complete. Each chunk copies its floats (a message
    /// owns its array); the sequence is lazy and reads <paramref name="payload"/> as it goes.
    /// </summary>
    /// <exception cref="ArgumentException">header.Count differs from payload.Length, the header is invalid, or chunkFloats ≤ 0.</exception>
    public static IEnumerable<TensorChunk> Split(TensorHeader header, ReadOnlyMemory<float> payload, int chunkFloats = DefaultChunkFloats)
    {
        if (header.Count != payload.Length)
            throw new ArgumentException($"the header announces {header.Count} floats but the payload has {payload.Length}", nameof(payload));
        if (TensorFrame.Validate(header, int.MaxValue) is { } invalid)
            throw new ArgumentException($"invalid tensor header ({header}): {invalid}", nameof(header));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(chunkFloats);
        return Iterate(header, payload, chunkFloats);
    }

    /// <summary>The number of chunks <see cref="Split"/> makes for <paramref name="count"/> floats.</summary>
    public static int ChunkCount(int count, int chunkFloats = DefaultChunkFloats) =>
        count == 0 ? 1 : (int)(((long)count + chunkFloats - 1) / chunkFloats);

    private static IEnumerable<TensorChunk> Iterate(TensorHeader header, ReadOnlyMemory<float> payload, int chunkFloats)
    {
        if (payload.IsEmpty)
        {
            yield return new TensorChunk(header, 0, []);
            yield break;
        }
        for (int offset = 0; offset < payload.Length; offset += Math.Min(chunkFloats, payload.Length - offset))
        {
            int length = Math.Min(chunkFloats, payload.Length - offset);
            yield return new TensorChunk(header, offset, payload.Slice(offset, length).ToArray());
        }
    }
}
