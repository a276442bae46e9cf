using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Serialization;

namespace DistributedNN.Transport;

/// <summary>
/// The Akka.NET serializer of <see cref="TensorChunk"/> (identifier 1071, manifest "tc1"): the fallback tensor
/// transport when the direct data plane is not available. By default Akka.NET would write the floats as JSON text;
/// this writes them as one raw block. Layout (little-endian):
/// <code>
///   0   48  the tensor frame header of <see cref="TensorFrame"/> (magic "DNNT", version 1, kind, job, step,
///           weight version, shard, count = the WHOLE tensor's float count)
///   48   4  offset  i32  index of the chunk's first float in the tensor
///   52   4  length  i32  floats in this chunk
///   56  4·length   raw float32 values
/// </code>
/// A chunk of <see cref="TensorChunker.DefaultChunkFloats"/> floats is 262,200 bytes: raise
/// <c>akka.remote.dot-netty.tcp.maximum-frame-size</c> above that on every node (Akka's default 128,000 bytes drops
/// such a message with only an error log) — see <see cref="RecommendedRemoteHocon"/>.
/// </summary>
public sealed class TensorChunkSerializer : SerializerWithStringManifest
{
    /// <summary>The serializer identifier (unique among the system's serializers; Akka reserves 0–100).</summary>
    public const int SerializerId = 1071;

    /// <summary>The manifest of <see cref="TensorChunk"/>, format 1.</summary>
    public const string ChunkManifest = "tc1";

    /// <summary>Bytes before the floats.</summary>
    public const int PrefixSize = TensorFrame.HeaderSize + 8;

    /// <summary>HOCON that registers this serializer and binds <see cref="TensorChunk"/> to it.</summary>
    public const string BindingHocon = """
        akka.actor {
          serializers { tensor-chunk = "DistributedNN.Transport.TensorChunkSerializer, DistributedNN.Cluster" }
          serialization-bindings { "DistributedNN.Transport.TensorChunk, DistributedNN.Cluster" = tensor-chunk }
        }
        """;

    /// <summary>
    /// Remote settings that let default-size chunks (≈256 KB) through with room for Akka's envelope:
    /// maximum-frame-size 512,000 bytes, socket buffers twice that.
    /// </summary>
    public const string RecommendedRemoteHocon = """
        akka.remote.dot-netty.tcp {
          maximum-frame-size = 512000b
          send-buffer-size = 1024000b
          receive-buffer-size = 1024000b
        }
        """;

    public TensorChunkSerializer(ExtendedActorSystem system) : base(system)
    {
        TensorFrame.EnsureLittleEndian();
    }

    public override int Identifier => SerializerId;

    /// <summary>The serialized size of a chunk of <paramref name="floats"/> values.</summary>
    public static long SerializedSize(int floats) => PrefixSize + (long)floats * sizeof(float);

    public override string Manifest(object o) => o is TensorChunk
        ? ChunkManifest
        : throw new ArgumentException($"{nameof(TensorChunkSerializer)} cannot serialize {o?.GetType().FullName ?? "null"}", nameof(o));

    public override byte[] ToBinary(object obj)
    {
        if (obj is not TensorChunk chunk)
            throw new ArgumentException($"{nameof(TensorChunkSerializer)} cannot serialize {obj?.GetType().FullName ?? "null"}", nameof(obj));
        ArgumentNullException.ThrowIfNull(chunk.Values, nameof(TensorChunk.Values));
        if (CheckRange(chunk.Header.Count, chunk.Offset, chunk.Values.Length) is { } error)
            throw new ArgumentException($"cannot serialize tensor chunk ({chunk.Header}): {error}", nameof(obj));
        long size = SerializedSize(chunk.Values.Length);
        if (size > Array.MaxLength)
            throw new ArgumentException($"a tensor chunk of {chunk.Values.Length} floats is too large for one message", nameof(obj));
        var bytes = GC.AllocateUninitializedArray<byte>((int)size);
        Span<byte> span = bytes;
        TensorFrame.WriteHeader(chunk.Header, span);
        BinaryPrimitives.WriteInt32LittleEndian(span[TensorFrame.HeaderSize..], chunk.Offset);
        BinaryPrimitives.WriteInt32LittleEndian(span[(TensorFrame.HeaderSize + 4)..], chunk.Values.Length);
        MemoryMarshal.AsBytes(chunk.Values.AsSpan()).CopyTo(span[PrefixSize..]);
        return bytes;
    }

    public override object FromBinary(byte[] bytes, string manifest)
    {
        if (manifest != ChunkManifest)
            throw new SerializationException($"{nameof(TensorChunkSerializer)}: unknown manifest \"{manifest}\" (expected \"{ChunkManifest}\")");
        if (bytes is null)
            throw new SerializationException("tensor chunk: no bytes");
        if (bytes.Length < PrefixSize)
            throw new SerializationException($"tensor chunk truncated: {bytes.Length} bytes, a chunk has at least {PrefixSize}");
        ReadOnlySpan<byte> span = bytes;
        if (!TensorFrame.TryReadHeader(span, int.MaxValue, out TensorHeader header, out string? headerError))
            throw new SerializationException($"tensor chunk: {headerError}");
        int offset = BinaryPrimitives.ReadInt32LittleEndian(span[TensorFrame.HeaderSize..]);
        int length = BinaryPrimitives.ReadInt32LittleEndian(span[(TensorFrame.HeaderSize + 4)..]);
        if (CheckRange(header.Count, offset, length) is { } rangeError)
            throw new SerializationException($"tensor chunk ({header}): {rangeError}");
        long expected = SerializedSize(length);
        if (bytes.Length != expected)
            throw new SerializationException(
                $"tensor chunk ({header}) {(bytes.Length < expected ? "truncated" : "has trailing bytes")}: " +
                $"{bytes.Length} bytes for {length} floats, expected {expected}");
        var values = GC.AllocateUninitializedArray<float>(length);
        span[PrefixSize..].CopyTo(MemoryMarshal.AsBytes(values.AsSpan()));
        return new TensorChunk(header, offset, values);
    }

    /// <summary>Why [offset, offset + length) does not fit a tensor of <paramref name="count"/> floats, or null.</summary>
    internal static string? CheckRange(int count, int offset, int length)
    {
        if (offset < 0 || length < 0)
            return $"negative offset {offset} or length {length}";
        if ((long)offset + length > count)
            return $"floats [{offset}, {(long)offset + length}) lie outside the tensor of {count} floats";
        return null;
    }
}
