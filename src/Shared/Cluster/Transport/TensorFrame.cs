using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;

namespace DistributedNN.Transport;

/// <summary>
/// The tensor frame of the data plane (docs/DATA_PLANE.md): a fixed 48-byte little-endian header, then the payload.
/// <code>
///   offset size  field
///        0    4  magic          u32 = 0x544E4E44 (the bytes 'D','N','N','T')
///        4    1  version        u8  = 1 (<see cref="FormatVersion"/>)
///        5    1  kind           u8  (<see cref="TensorKind"/>: 1 = Weights, 2 = ShardGradient, 3 = ShardGradientBf16, 4 = WeightsBf16, 5 = Order, 6 = Result, 7–12 the sharded topology's frames; others are rejected)
///        6    2  layout         u16: the reduce layout of a sharded job's frame (kinds 6–12; 0 for the others, anything else is rejected)
///        8   16  job id         Guid, the 16 bytes of Guid.ToByteArray() / Guid.TryWriteBytes (.NET order)
///       24    8  step           i64
///       32    8  weight version i64
///       40    4  shard          i32 (−1 when not applicable; below −1 is rejected)
///       44    4  count          i32 number of values (0 ≤ count ≤ the receiver's maxCount)
///       48  4·count payload     raw little-endian IEEE-754 float32 values, bit for bit (NaN payloads and −0 kept);
///           2·count             for kinds 3 and 4: little-endian bfloat16 values (the upper halves of the rounded float32s)
/// </code>
/// There is no trailer and no checksum (TCP checks the bytes; the step and version checks reject stale data).
/// A receiver validates the whole header before it reads or allocates anything for the payload.
/// </summary>
public static class TensorFrame
{
    /// <summary>The header size in bytes.</summary>
    public const int HeaderSize = 48;

    /// <summary>The magic number, read as a little-endian u32: the bytes 'D','N','N','T'.</summary>
    public const uint Magic = 0x544E4E44;

    /// <summary>The frame format version this build writes and reads.</summary>
    public const byte FormatVersion = 1;

    /// <summary>Whether <paramref name="kind"/> is a kind this build knows.</summary>
    public static bool IsKnownKind(TensorKind kind) => kind is >= TensorKind.Weights and <= TensorKind.SliceSum;

    /// <summary>Whether frames of <paramref name="kind"/> may carry a reduce layout: the sharded topology's, and a result (whose gradient went by one).</summary>
    public static bool CarriesLayout(TensorKind kind) => kind is >= TensorKind.Layout and <= TensorKind.SliceSum or TensorKind.Result;

    /// <summary>Writes the 48-byte header of <paramref name="header"/> into <paramref name="destination"/>.</summary>
    /// <exception cref="ArgumentException">The header is not valid (unknown kind, negative count, shard below −1) or the span is too short.</exception>
    public static void WriteHeader(in TensorHeader header, Span<byte> destination)
    {
        if (destination.Length < HeaderSize)
            throw new ArgumentException($"a tensor frame header needs {HeaderSize} bytes, got {destination.Length}", nameof(destination));
        if (Validate(header, int.MaxValue) is { } error)
            throw new ArgumentException($"invalid tensor header ({header}): {error}", nameof(header));
        BinaryPrimitives.WriteUInt32LittleEndian(destination, Magic);
        destination[4] = FormatVersion;
        destination[5] = (byte)header.Kind;
        BinaryPrimitives.WriteUInt16LittleEndian(destination[6..], header.Layout);
        if (!header.Job.TryWriteBytes(destination.Slice(8, 16)))
            throw new InvalidOperationException("could not write the job id"); // cannot happen: the slice has 16 bytes
        BinaryPrimitives.WriteInt64LittleEndian(destination[24..], header.Step);
        BinaryPrimitives.WriteInt64LittleEndian(destination[32..], header.Version);
        BinaryPrimitives.WriteInt32LittleEndian(destination[40..], header.Shard);
        BinaryPrimitives.WriteInt32LittleEndian(destination[44..], header.Count);
    }

    /// <summary>
    /// Reads and validates a header. On failure <paramref name="error"/> is a one-line reason
    /// (e.g. "unknown tensor kind 7 (expected 1 = Weights or 2 = ShardGradient)").
    /// </summary>
    public static bool TryReadHeader(ReadOnlySpan<byte> source, int maxCount, out TensorHeader header, [NotNullWhen(false)] out string? error)
    {
        header = default;
        if (source.Length < HeaderSize)
        {
            error = $"a tensor frame header needs {HeaderSize} bytes, got {source.Length}";
            return false;
        }
        uint magic = BinaryPrimitives.ReadUInt32LittleEndian(source);
        if (magic != Magic)
        {
            error = $"not a tensor frame: magic 0x{magic:X8}, expected 0x{Magic:X8} (\"DNNT\")";
            return false;
        }
        byte version = source[4];
        if (version != FormatVersion)
        {
            error = $"tensor frame format version {version} is not supported (this build reads version {FormatVersion})";
            return false;
        }
        ushort layout = BinaryPrimitives.ReadUInt16LittleEndian(source[6..]);
        if (layout != 0 && !CarriesLayout((TensorKind)source[5]))
        {
            error = $"reserved header field is {layout}, expected 0";
            return false;
        }
        header = new TensorHeader(
            Job: new Guid(source.Slice(8, 16)),
            Step: BinaryPrimitives.ReadInt64LittleEndian(source[24..]),
            Version: BinaryPrimitives.ReadInt64LittleEndian(source[32..]),
            Kind: (TensorKind)source[5],
            Shard: BinaryPrimitives.ReadInt32LittleEndian(source[40..]),
            Count: BinaryPrimitives.ReadInt32LittleEndian(source[44..])) { Layout = layout };
        error = Validate(header, maxCount);
        if (error is null) return true;
        header = default;
        return false;
    }

    /// <summary>Reads and validates a header.</summary>
    /// <exception cref="TensorProtocolException">The bytes are not a valid header (the message says why).</exception>
    public static TensorHeader ReadHeader(ReadOnlySpan<byte> source, int maxCount) =>
        TryReadHeader(source, maxCount, out var header, out var error) ? header : throw new TensorProtocolException(error);

    /// <summary>The reason <paramref name="header"/> is not acceptable, or null when it is.</summary>
    internal static string? Validate(in TensorHeader header, int maxCount)
    {
        if (!IsKnownKind(header.Kind))
            return $"unknown tensor kind {(int)header.Kind} (expected 1 = Weights, 2 = ShardGradient, 3 = ShardGradientBf16, 4 = WeightsBf16, 5 = Order, 6 = Result, 7–12 the sharded topology's frames)";
        if (header.Count < 0)
            return $"negative float count {header.Count}";
        if (header.Count > maxCount)
            return $"a frame of {header.Count} floats exceeds the limit of {maxCount}";
        if (header.Layout != 0 && !CarriesLayout(header.Kind))
            return $"a {header.Kind} frame carries no layout";
        if (header.Shard < TensorHeader.NoShard)
            return $"invalid shard index {header.Shard} (-1 = none, otherwise >= 0)";
        return null;
    }

    internal static void EnsureLittleEndian()
    {
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("the tensor data plane sends raw float32 memory and needs a little-endian CPU");
    }
}
