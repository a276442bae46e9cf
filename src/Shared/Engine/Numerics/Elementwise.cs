using System.Runtime.CompilerServices;

namespace DistributedNN.Numerics;

/// <summary>
/// Element-wise operations on float vectors and the sums over them, at the width <see cref="Kernels.Path"/> picks and with
/// the same bits at every width. An element-wise result is one IEEE operation per element in any register. A sum has one
/// fixed shape: 16 float lanes, lane j the fused multiply-add chain over the elements ≡ j (mod 16) of a block of
/// <see cref="Block"/> elements, the lanes then added in lane order into a double, block after block, and the last
/// elements (fewer than 16) added as doubles — one 512-bit register, two 256-bit ones or sixteen floats hold those lanes.
/// </summary>
public static unsafe class Elementwise
{
    /// <summary>Elements a sum keeps in float lanes before it adds them into its double total.</summary>
    public const int Block = 1024;

    /// <summary>dst += src, over n elements.</summary>
    public static void AddInto(float* dst, float* src, long n) => Map<Plus>(dst, dst, src, n);

    public static void AddInto(Span<float> dst, ReadOnlySpan<float> src)
    {
        if (src.Length != dst.Length) throw new ArgumentException($"adding {src.Length} values into {dst.Length}");
        fixed (float* d = dst, s = src) AddInto(d, s, dst.Length);
    }

    /// <summary>dst = x ⊙ y, over n elements (dst may be x or y).</summary>
    public static void Multiply(float* dst, float* x, float* y, long n) => Map<Times>(dst, x, y, n);

    /// <summary>dst = x − y, over n elements (dst may be x or y).</summary>
    public static void Subtract(float* dst, float* x, float* y, long n) => Map<Minus>(dst, x, y, n);

    /// <summary>dst = max(dst, src), over n elements.</summary>
    public static void MaxInto(float* dst, float* src, long n) => Map<Greater>(dst, dst, src, n);

    /// <summary>How many of the n values lie below <paramref name="low"/> or above <paramref name="high"/> (NaN counts as neither).</summary>
    public static long CountOutside(float* x, long n, float low, float high)
    {
        var range = new Range { X = x, Low = low, High = high };
        Kernels.Run<Outside, Range>(ref range, n);
        return range.Count;
    }

    /// <summary>Whether every value is finite (no NaN, no ±∞).</summary>
    public static bool AllFinite(ReadOnlySpan<float> x) => Kernels.RunLanes<Finite, ReadOnlySpan<float>, bool>(ref x);

    /// <summary>Σ x², in the sum's one shape (see the class), the same bits on every path.</summary>
    public static double SumOfSquares(ReadOnlySpan<float> x) => Kernels.RunLanes<Squares, ReadOnlySpan<float>, double>(ref x);

    // dst[i] = f(x[i], y[i])
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Map<TF>(float* dst, float* x, float* y, long n) where TF : IBinary
    {
        var operands = new Operands { Dst = dst, X = x, Y = y };
        Kernels.Run<Mapped<TF>, Operands>(ref operands, n);
    }

    private struct Operands
    {
        public float* Dst, X, Y;
    }

    private struct Mapped<TF> : IWidthKernel<Operands> where TF : IBinary
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static long Run<TOps, TV>(ref Operands o, long i, long n) where TOps : struct, IVec<TV> where TV : unmanaged
        {
            float* dst = o.Dst, x = o.X, y = o.Y; // locals: a store through dst must not make the JIT re-read the fields
            for (; i + TOps.Width <= n; i += TOps.Width) TOps.Store(dst + i, TF.Apply<TOps, TV>(TOps.Load(x + i), TOps.Load(y + i)));
            return i;
        }
    }

    private interface IBinary
    {
        static abstract TV Apply<TOps, TV>(TV a, TV b) where TOps : struct, IVec<TV> where TV : unmanaged;
    }

    private struct Plus : IBinary
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static TV Apply<TOps, TV>(TV a, TV b) where TOps : struct, IVec<TV> where TV : unmanaged => TOps.Add(a, b);
    }

    private struct Minus : IBinary
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static TV Apply<TOps, TV>(TV a, TV b) where TOps : struct, IVec<TV> where TV : unmanaged => TOps.Sub(a, b);
    }

    private struct Times : IBinary
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static TV Apply<TOps, TV>(TV a, TV b) where TOps : struct, IVec<TV> where TV : unmanaged => TOps.Mul(a, b);
    }

    private struct Greater : IBinary
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static TV Apply<TOps, TV>(TV a, TV b) where TOps : struct, IVec<TV> where TV : unmanaged => TOps.Max(a, b);
    }

    private struct Range
    {
        public float* X;
        public float Low, High;
        public long Count;
    }

    private struct Outside : IWidthKernel<Range>
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static long Run<TOps, TV>(ref Range r, long i, long n) where TOps : struct, IVec<TV> where TV : unmanaged
        {
            float* x = r.X;
            TV low = TOps.Broadcast(r.Low), high = TOps.Broadcast(r.High);
            long count = 0;
            for (; i + TOps.Width <= n; i += TOps.Width) count += TOps.CountOutside(TOps.Load(x + i), low, high);
            r.Count += count;
            return i;
        }
    }

    private struct Finite : ILaneKernel<ReadOnlySpan<float>, bool>
    {
        public static bool Run<TL, TV>(ref ReadOnlySpan<float> x) where TL : struct, IVec<TV> where TV : unmanaged
        {
            // x − x is 0 for a finite x and NaN for NaN or ±∞; a NaN stays NaN in a running sum
            float* lanes = stackalloc float[16];
            int i = 0, n = x.Length;
            float sum = 0;
            fixed (float* p = x)
            {
                TV acc = TL.Zero;
                for (; i + 16 <= n; i += 16)
                {
                    TV v = TL.Load(p + i);
                    acc = TL.Add(acc, TL.Sub(v, v));
                }
                TL.Store(lanes, acc);
                for (; i < n; i++) sum += p[i] - p[i];
            }
            for (int j = 0; j < 16; j++) sum += lanes[j];
            return sum == 0;
        }
    }

    private struct Squares : ILaneKernel<ReadOnlySpan<float>, double>
    {
        public static double Run<TL, TV>(ref ReadOnlySpan<float> x) where TL : struct, IVec<TV> where TV : unmanaged
        {
            double total = 0;
            int i = 0, n = x.Length;
            fixed (float* p = x)
            {
                while (i + 16 <= n)
                {
                    // one block: each lane an FMA chain over its elements
                    TV acc = TL.Zero;
                    for (int end = System.Math.Min(n - 15, i + Block); i < end; i += 16)
                    {
                        TV v = TL.Load(p + i);
                        acc = TL.Fma(v, v, acc);
                    }
                    total += Flush<TL, TV>(acc);
                }
                for (; i < n; i++) total += (double)p[i] * p[i];
            }
            return total;
        }
    }

    /// <summary>A block's 16 lanes added in lane order, as doubles: the end of every sum's block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static double Flush<TL, TV>(TV lanes) where TL : struct, IVec<TV> where TV : unmanaged
    {
        Scalar16 v = default;
        TL.Store((float*)&v, lanes);
        double sum = 0;
        for (int j = 0; j < 16; j++) sum += v[j];
        return sum;
    }
}
