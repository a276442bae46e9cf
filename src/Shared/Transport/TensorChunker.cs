namespace DistributedNN.Transport;

/// <summary>Cuts a tensor into <see cref="TensorChunk"/> messages for the Akka.Remote fallback transport.</summary>
public static class TensorChunker
{
    /// <summary>65,536 floats = 256 KiB of payload per chunk (262,200 bytes serialized).</summary>
    public const int DefaultChunkFloats = 65536;

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
