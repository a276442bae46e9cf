using System.Buffers.Binary;
using System.Runtime.Serialization;
using System.Text;

namespace DistributedNN.Protocol;

/// <summary>
/// Reads a control-plane record's fields from a received payload, refusing (with a <see cref="SerializationException"/>
/// naming the problem) any length that is negative, above its cap, or more than the bytes left, before it allocates:
/// whatever a payload says, what is allocated is at most a small multiple of the payload's own size.
/// </summary>
public sealed class WireReader(byte[] buffer, int start, int end)
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
    private int _at = start;

    /// <summary>Where the next field starts in the buffer.</summary>
    public int Position => _at;
    public int Remaining => end - _at;

    public byte Byte() => Take(1)[0];
    public int Int() => BinaryPrimitives.ReadInt32LittleEndian(Take(4));
    public long Long() => BinaryPrimitives.ReadInt64LittleEndian(Take(8));
    public ulong ULong() => BinaryPrimitives.ReadUInt64LittleEndian(Take(8));
    public double Double() => BinaryPrimitives.ReadDoubleLittleEndian(Take(8));
    public Guid Guid() => new(Take(16));

    public bool Bool() => Byte() switch
    {
        0 => false,
        1 => true,
        var b => throw Refused($"a boolean of value {b}"),
    };

    /// <summary>A presence byte: true when a value follows (0: null, 1: a value).</summary>
    public bool Present() => Bool();

    /// <summary>A length field: −1 for null, else 0..<paramref name="max"/> elements of at least <paramref name="bytesEach"/> bytes that are all still to come.</summary>
    public int Length(int max, int bytesEach, string what)
    {
        int length = Int();
        if (length == -1) return -1;
        if (length < 0 || length > max) throw Refused($"{what} of length {length} (at most {max})");
        if ((long)length * bytesEach > Remaining) throw Refused($"{what} of length {length}, but only {Remaining} bytes remain");
        return length;
    }

    public string? String(int maxBytes)
    {
        int length = Length(maxBytes, 1, "a string");
        if (length < 0) return null;
        try { return StrictUtf8.GetString(Take(length)); }
        catch (DecoderFallbackException) { throw Refused("a string that is not UTF-8"); }
    }

    public byte[]? Bytes(int max)
    {
        int length = Length(max, 1, "a byte array");
        return length < 0 ? null : Take(length).ToArray();
    }

    public int[]? Ints(int max)
    {
        int length = Length(max, 4, "an int array");
        if (length < 0) return null;
        var values = new int[length];
        for (int i = 0; i < length; i++) values[i] = Int();
        return values;
    }

    /// <summary>Throws unless every byte was read: a payload with more than its record is not one of ours.</summary>
    public void End()
    {
        if (Remaining != 0) throw Refused($"{Remaining} bytes after the record");
    }

    public static SerializationException Refused(string problem) => new($"refused a control-plane payload: {problem}");

    private ReadOnlySpan<byte> Take(int count)
    {
        if (count > Remaining) throw Refused($"it ends {count - Remaining} bytes early");
        var span = new ReadOnlySpan<byte>(buffer, _at, count);
        _at += count;
        return span;
    }
}
