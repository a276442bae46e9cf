using System.Runtime.Intrinsics;

namespace DistributedNN.Numerics;

/// <summary>
/// bfloat16 (the upper 16 bits of a float32: sign, 8 exponent bits, 7 mantissa bits) for tensors on the wire.
/// Rounding is to nearest, ties to even, so it is unbiased and deterministic; ±∞ stay infinite and a NaN stays
/// a (quiet) NaN, so a poisoned gradient is still caught after the trip. Widening back is exact.
/// </summary>
public static class BFloat16
{
    /// <summary>One float rounded to bf16 bits.</summary>
    public static ushort FromFloat(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if ((bits & 0x7FFF_FFFF) > 0x7F80_0000) return (ushort)((bits >> 16) | 0x0040); // NaN: keep it a quiet NaN
        uint rounded = bits + 0x7FFF + ((bits >> 16) & 1);
        return (ushort)(rounded >> 16);
    }

    /// <summary>bf16 bits widened to the float they stand for (exact).</summary>
    public static float ToFloat(ushort value) => BitConverter.UInt32BitsToSingle((uint)value << 16);

    /// <summary>Rounds <paramref name="source"/> into <paramref name="destination"/> (same length).</summary>
    public static void Narrow(ReadOnlySpan<float> source, Span<ushort> destination)
    {
        if (destination.Length < source.Length) throw new ArgumentException("the destination is shorter than the source", nameof(destination));
        var bits = System.Runtime.InteropServices.MemoryMarshal.Cast<float, uint>(source);
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var one = Vector256.Create(1u);
            var bias = Vector256.Create(0x7FFFu);
            var absMask = Vector256.Create(0x7FFF_FFFFu);
            var infinity = Vector256.Create(0x7F80_0000u);
            var quiet = Vector256.Create(0x0040u);
            Vector256<uint> Round(Vector256<uint> v)
            {
                var rounded = Vector256.ShiftRightLogical(v + bias + (Vector256.ShiftRightLogical(v, 16) & one), 16);
                var nan = Vector256.GreaterThan(v & absMask, infinity);
                return Vector256.ConditionalSelect(nan, Vector256.ShiftRightLogical(v, 16) | quiet, rounded);
            }
            for (; i + 16 <= bits.Length; i += 16)
                Vector256.Narrow(Round(Vector256.Create(bits.Slice(i, 8))), Round(Vector256.Create(bits.Slice(i + 8, 8)))).CopyTo(destination.Slice(i, 16));
        }
        for (; i < bits.Length; i++) destination[i] = FromFloat(source[i]);
    }

    /// <summary>Widens <paramref name="source"/> into <paramref name="destination"/> (same length).</summary>
    public static void Widen(ReadOnlySpan<ushort> source, Span<float> destination)
    {
        if (destination.Length < source.Length) throw new ArgumentException("the destination is shorter than the source", nameof(destination));
        var bits = System.Runtime.InteropServices.MemoryMarshal.Cast<float, uint>(destination);
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
            for (; i + 16 <= source.Length; i += 16)
            {
                var (lo, hi) = Vector256.Widen(Vector256.Create(source.Slice(i, 16)));
                Vector256.ShiftLeft(lo, 16).CopyTo(bits.Slice(i, 8));
                Vector256.ShiftLeft(hi, 16).CopyTo(bits.Slice(i + 8, 8));
            }
        for (; i < source.Length; i++) bits[i] = (uint)source[i] << 16;
    }
}
