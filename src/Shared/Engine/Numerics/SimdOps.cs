using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace DistributedNN.Numerics;

/// <summary>
/// The few vector operations the kernels need, over one register width. Kernels are generic
/// over an implementation (a struct), so the JIT compiles one specialised copy per width and
/// the scalar fallback is the very same code with a width of one.
/// </summary>
internal unsafe interface IVec<TV> where TV : unmanaged
{
    static abstract int Width { get; }
    static abstract TV Zero { get; }
    static abstract TV Load(float* p);
    static abstract void Store(float* p, TV v);
    static abstract TV Broadcast(float x);
    /// <summary>a·b + c with one rounding, the same bits at every width.</summary>
    static abstract TV Fma(TV a, TV b, TV c);
    static abstract TV Add(TV a, TV b);
    static abstract TV Sub(TV a, TV b);
    static abstract TV Mul(TV a, TV b);
    static abstract TV Div(TV a, TV b);
    static abstract TV Sqrt(TV a);
    static abstract TV Max(TV a, TV b);
    /// <summary>How many lanes of <paramref name="v"/> lie below <paramref name="low"/> or above <paramref name="high"/> (NaN: neither).</summary>
    static abstract int CountOutside(TV v, TV low, TV high);
}

internal unsafe struct V512 : IVec<Vector512<float>>
{
    public static int Width => 16;
    public static Vector512<float> Zero => Vector512<float>.Zero;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Load(float* p) => Vector512.Load(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(float* p, Vector512<float> v) => v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Broadcast(float x) => Vector512.Create(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Fma(Vector512<float> a, Vector512<float> b, Vector512<float> c) => Vector512.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Add(Vector512<float> a, Vector512<float> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Sub(Vector512<float> a, Vector512<float> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Mul(Vector512<float> a, Vector512<float> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Div(Vector512<float> a, Vector512<float> b) => a / b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Sqrt(Vector512<float> a) => Vector512.Sqrt(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Max(Vector512<float> a, Vector512<float> b) => Vector512.Max(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int CountOutside(Vector512<float> v, Vector512<float> low, Vector512<float> high) =>
        BitOperations.PopCount((Vector512.LessThan(v, low) | Vector512.GreaterThan(v, high)).ExtractMostSignificantBits());
}

internal unsafe struct V256 : IVec<Vector256<float>>
{
    public static int Width => 8;
    public static Vector256<float> Zero => Vector256<float>.Zero;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Load(float* p) => Vector256.Load(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(float* p, Vector256<float> v) => v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Broadcast(float x) => Vector256.Create(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Fma(Vector256<float> a, Vector256<float> b, Vector256<float> c) => Vector256.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Add(Vector256<float> a, Vector256<float> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Sub(Vector256<float> a, Vector256<float> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Mul(Vector256<float> a, Vector256<float> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Div(Vector256<float> a, Vector256<float> b) => a / b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Sqrt(Vector256<float> a) => Vector256.Sqrt(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Max(Vector256<float> a, Vector256<float> b) => Vector256.Max(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int CountOutside(Vector256<float> v, Vector256<float> low, Vector256<float> high) =>
        BitOperations.PopCount((Vector256.LessThan(v, low) | Vector256.GreaterThan(v, high)).ExtractMostSignificantBits());
}

internal unsafe struct Scalar : IVec<float>
{
    public static int Width => 1;
    public static float Zero => 0f;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Load(float* p) => *p;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(float* p, float v) => *p = v;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Broadcast(float x) => x;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Fma(float a, float b, float c) => MathF.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Add(float a, float b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sub(float a, float b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Mul(float a, float b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Div(float a, float b) => a / b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sqrt(float a) => MathF.Sqrt(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Max(float a, float b) => MathF.Max(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static int CountOutside(float v, float low, float high) => v < low || v > high ? 1 : 0;
}

/// <summary>
/// Sixteen lanes as two 256-bit registers (lanes 0–7 and 8–15): a sum over 16 float lanes (<see cref="Elementwise"/>) on
/// the 256-bit path, so that it has the shape, and the bits, of the 512-bit path's.
/// </summary>
internal unsafe struct V256Pair : IVec<V256Pair>
{
    private Vector256<float> _low, _high;
    private static V256Pair Of(Vector256<float> low, Vector256<float> high) => new() { _low = low, _high = high };
    public static int Width => 16;
    public static V256Pair Zero => default;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256Pair Load(float* p) => Of(Vector256.Load(p), Vector256.Load(p + 8));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(float* p, V256Pair v) { v._low.Store(p); v._high.Store(p + 8); }
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256Pair Broadcast(float x) => Of(Vector256.Create(x), Vector256.Create(x));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V256Pair Fma(V256Pair a, V256Pair b, V256Pair c) => Of(Vector256.FusedMultiplyAdd(a._low, b._low, c._low), Vector256.FusedMultiplyAdd(a._high, b._high, c._high));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256Pair Add(V256Pair a, V256Pair b) => Of(a._low + b._low, a._high + b._high);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256Pair Sub(V256Pair a, V256Pair b) => Of(a._low - b._low, a._high - b._high);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256Pair Mul(V256Pair a, V256Pair b) => Of(a._low * b._low, a._high * b._high);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256Pair Div(V256Pair a, V256Pair b) => Of(a._low / b._low, a._high / b._high);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256Pair Sqrt(V256Pair a) => Of(Vector256.Sqrt(a._low), Vector256.Sqrt(a._high));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256Pair Max(V256Pair a, V256Pair b) => Of(Vector256.Max(a._low, b._low), Vector256.Max(a._high, b._high));
    public static int CountOutside(V256Pair v, V256Pair low, V256Pair high) => V256.CountOutside(v._low, low._low, high._low) + V256.CountOutside(v._high, low._high, high._high);
}

/// <summary>Sixteen lanes as sixteen floats: the scalar path's form of <see cref="V256Pair"/>, and the plain reference of both.</summary>
[InlineArray(16)]
internal unsafe struct Scalar16 : IVec<Scalar16>
{
    private float _lane;
    public static int Width => 16;
    public static Scalar16 Zero => default;

    public static Scalar16 Load(float* p)
    {
        var r = default(Scalar16);
        for (int j = 0; j < 16; j++) r[j] = p[j];
        return r;
    }

    public static void Store(float* p, Scalar16 v)
    {
        for (int j = 0; j < 16; j++) p[j] = v[j];
    }

    public static Scalar16 Broadcast(float x)
    {
        var r = default(Scalar16);
        for (int j = 0; j < 16; j++) r[j] = x;
        return r;
    }

    public static Scalar16 Fma(Scalar16 a, Scalar16 b, Scalar16 c)
    {
        for (int j = 0; j < 16; j++) c[j] = MathF.FusedMultiplyAdd(a[j], b[j], c[j]);
        return c;
    }

    public static Scalar16 Add(Scalar16 a, Scalar16 b)
    {
        for (int j = 0; j < 16; j++) a[j] += b[j];
        return a;
    }

    public static Scalar16 Sub(Scalar16 a, Scalar16 b)
    {
        for (int j = 0; j < 16; j++) a[j] -= b[j];
        return a;
    }

    public static Scalar16 Mul(Scalar16 a, Scalar16 b)
    {
        for (int j = 0; j < 16; j++) a[j] *= b[j];
        return a;
    }

    public static Scalar16 Div(Scalar16 a, Scalar16 b)
    {
        for (int j = 0; j < 16; j++) a[j] /= b[j];
        return a;
    }

    public static Scalar16 Sqrt(Scalar16 a)
    {
        for (int j = 0; j < 16; j++) a[j] = MathF.Sqrt(a[j]);
        return a;
    }

    public static Scalar16 Max(Scalar16 a, Scalar16 b)
    {
        for (int j = 0; j < 16; j++) a[j] = MathF.Max(a[j], b[j]);
        return a;
    }

    public static int CountOutside(Scalar16 v, Scalar16 low, Scalar16 high)
    {
        int count = 0;
        for (int j = 0; j < 16; j++) count += Scalar.CountOutside(v[j], low[j], high[j]);
        return count;
    }
}
