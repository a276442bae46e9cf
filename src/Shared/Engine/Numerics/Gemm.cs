using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace DistributedNN.Numerics;

/// <summary>
/// Matrix products for the dense layers: C[m×n] = A[m×k] · B[k×n], with A read through two
/// strides (so Aᵀ costs nothing) and B and C row-major.
///
/// Every element of C is one fused-multiply-add chain over k in increasing order, whatever the
/// tiling, the register width or the number of rows in the call. So a row's result does not
/// depend on which other rows were computed with it — the property that lets a worker compute
/// a forward pass over its whole share of a batch and still match the single-process result.
///
/// Blocking: a micro-tile of 4 rows × 2 vectors of C lives in registers while k runs; k is cut
/// into blocks of <see cref="KBlock"/> so the B panel being streamed (KBlock × 2 vectors) stays in L1
/// across all row tiles.
/// </summary>
public static unsafe partial class Gemm
{
    private const int Rows = 4;
    /// <summary>k-block: 128 rows of a 32-float B panel is 16 KB, half the L1 data cache.</summary>
    public const int KBlock = 128;

    /// <summary>
    /// C = (accumulate ? C : 0) + A·B, where A(i,p) = a[i·ars + p·acs], B(p,j) = b[p·ldb + j],
    /// C(i,j) = c[i·ldc + j]. With <paramref name="accumulate"/> the FMA chain continues from C.
    /// </summary>
    public static void MatMul(int m, int n, int k, float* a, int ars, int acs, float* b, int ldb, float* c, int ldc, bool accumulate)
    {
        if (NothingToMultiply(m, n, k, c, ldc, accumulate)) return;
        for (int k0 = 0; k0 < k; k0 += KBlock)
        {
            int kLen = System.Math.Min(KBlock, k - k0);
            Block(m, n, kLen, a + (long)k0 * acs, ars, acs, b + (long)k0 * ldb, ldb, c, ldc, load: accumulate || k0 > 0, add: false);
        }
    }

    /// <summary>
    /// C = Σₛ Aₛ·Bₛ over the k-segments [bounds[s], bounds[s+1]): each segment's product is
    /// summed from zero, then added to C in segment order — C = ((P₀ + P₁) + P₂) + …, exactly
    /// what a coordinator computes when it adds per-shard gradients in shard order.
    /// </summary>
    /// <remarks>
    /// Each micro-tile keeps the running sum in registers across the segments and stores it once, so C is
    /// written once instead of read and written once per segment (the weight gradient of a wide layer with
    /// many shards is otherwise limited by memory traffic, not arithmetic). The additions are the same:
    /// ((P₀ + P₁) + P₂) + …, each Pₛ one FMA chain from zero.
    /// </remarks>
    public static void MatMulSegmented(int m, int n, ReadOnlySpan<int> bounds, float* a, int ars, int acs, float* b, int ldb, float* c, int ldc)
    {
        if (m <= 0 || n <= 0) return;
        // the non-empty segments, as (start, length) pairs
        int count = 0;
        int most = System.Math.Max(0, bounds.Length - 1);
        Span<int> segments = most <= 32 ? stackalloc int[2 * most] : new int[2 * most];
        for (int s = 0; s + 1 < bounds.Length; s++)
        {
            int kLen = bounds[s + 1] - bounds[s];
            if (kLen <= 0) continue;
            segments[2 * count] = bounds[s];
            segments[2 * count + 1] = kLen;
            count++;
        }
        if (count == 0)
        {
            ZeroRows(m, n, c, ldc);
            return;
        }
        fixed (int* seg = segments)
        {
            int j = 0;
            switch (Kernels.Path)
            {
                case KernelPath.Vector512:
                    j = SegPanels2x6<V512, Vector512<float>>(j, m, n, seg, count, a, ars, acs, b, ldb, c, ldc);
                    j = SegPanels1<V512, Vector512<float>>(j, m, n, seg, count, a, ars, acs, b, ldb, c, ldc);
                    j = SegPanels1<V256, Vector256<float>>(j, m, n, seg, count, a, ars, acs, b, ldb, c, ldc);
                    break;
                case KernelPath.Vector256:
                    j = SegPanels2x6<V256, Vector256<float>>(j, m, n, seg, count, a, ars, acs, b, ldb, c, ldc);
                    j = SegPanels1<V256, Vector256<float>>(j, m, n, seg, count, a, ars, acs, b, ldb, c, ldc);
                    break;
            }
            SegPanels1<Scalar, float>(j, m, n, seg, count, a, ars, acs, b, ldb, c, ldc);
        }
    }

    private static int SegPanels2<TOps, TV>(int j, int m, int n, int* seg, int count, float* a, int ars, int acs, float* b, int ldb, float* c, int ldc)
        where TOps : struct, IVec<TV> where TV : unmanaged
    {
        int w = 2 * TOps.Width;
        for (; j + w <= n; j += w)
            for (int i = 0; i < m; i += Rows)
                SegTile2<TOps, TV>(System.Math.Min(Rows, m - i), seg, count, a + (long)i * ars, ars, acs, b + j, ldb, c + (long)i * ldc + j, ldc);
        return j;
    }

    private static int SegPanels1<TOps, TV>(int j, int m, int n, int* seg, int count, float* a, int ars, int acs, float* b, int ldb, float* c, int ldc)
        where TOps : struct, IVec<TV> where TV : unmanaged
    {
        int w = TOps.Width;
        for (; j + w <= n; j += w)
            for (int i = 0; i < m; i += Rows)
                SegTile1<TOps, TV>(System.Math.Min(Rows, m - i), seg, count, a + (long)i * ars, ars, acs, b + j, ldb, c + (long)i * ldc + j, ldc);
        return j;
    }

    // C[rows × 2W] = Σₛ (A·B over segment s), the sum kept in registers: acc = P₀, then acc = acc + Pₛ.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void SegTile2<TOps, TV>(int rows, int* seg, int count, float* a, int ars, int acs, float* b, int ldb, float* c, int ldc)
        where TOps : struct, IVec<TV> where TV : unmanaged
    {
        int w = TOps.Width;
        float* a0 = a, a1 = rows > 1 ? a + ars : a, a2 = rows > 2 ? a + 2L * ars : a, a3 = rows > 3 ? a + 3L * ars : a;
        TV y00 = TOps.Zero, y01 = TOps.Zero, y10 = TOps.Zero, y11 = TOps.Zero, y20 = TOps.Zero, y21 = TOps.Zero, y30 = TOps.Zero, y31 = TOps.Zero;
        for (int s = 0; s < count; s++)
        {
            int k0 = seg[2 * s], kLen = seg[2 * s + 1];
            TV x00 = TOps.Zero, x01 = TOps.Zero, x10 = TOps.Zero, x11 = TOps.Zero, x20 = TOps.Zero, x21 = TOps.Zero, x30 = TOps.Zero, x31 = TOps.Zero;
            float* bp = b + (long)k0 * ldb;
            long ao = (long)k0 * acs;
            for (int p = 0; p < kLen; p++)
            {
                TV b0 = TOps.Load(bp), b1 = TOps.Load(bp + w);
                TV v = TOps.Broadcast(a0[ao]); x00 = TOps.Fma(v, b0, x00); x01 = TOps.Fma(v, b1, x01);
                v = TOps.Broadcast(a1[ao]); x10 = TOps.Fma(v, b0, x10); x11 = TOps.Fma(v, b1, x11);
                v = TOps.Broadcast(a2[ao]); x20 = TOps.Fma(v, b0, x20); x21 = TOps.Fma(v, b1, x21);
                v = TOps.Broadcast(a3[ao]); x30 = TOps.Fma(v, b0, x30); x31 = TOps.Fma(v, b1, x31);
                bp += ldb;
                ao += acs;
            }
            if (s == 0)
            {
                y00 = x00; y01 = x01; y10 = x10; y11 = x11; y20 = x20; y21 = x21; y30 = x30; y31 = x31;
            }
            else
            {
                y00 = TOps.Add(y00, x00); y01 = TOps.Add(y01, x01); y10 = TOps.Add(y10, x10); y11 = TOps.Add(y11, x11);
                y20 = TOps.Add(y20, x20); y21 = TOps.Add(y21, x21); y30 = TOps.Add(y30, x30); y31 = TOps.Add(y31, x31);
            }
        }
        TOps.Store(c, y00); TOps.Store(c + w, y01);
        if (rows > 1) { TOps.Store(c + ldc, y10); TOps.Store(c + ldc + w, y11); }
        if (rows > 2) { TOps.Store(c + 2L * ldc, y20); TOps.Store(c + 2L * ldc + w, y21); }
        if (rows > 3) { TOps.Store(c + 3L * ldc, y30); TOps.Store(c + 3L * ldc + w, y31); }
    }

    // C[rows × W], the same for edge columns.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void SegTile1<TOps, TV>(int rows, int* seg, int count, float* a, int ars, int acs, float* b, int ldb, float* c, int ldc)
        where TOps : struct, IVec<TV> where TV : unmanaged
    {
        float* a0 = a, a1 = rows > 1 ? a + ars : a, a2 = rows > 2 ? a + 2L * ars : a, a3 = rows > 3 ? a + 3L * ars : a;
        TV y0 = TOps.Zero, y1 = TOps.Zero, y2 = TOps.Zero, y3 = TOps.Zero;
        for (int s = 0; s < count; s++)
        {
            int k0 = seg[2 * s], kLen = seg[2 * s + 1];
            TV x0 = TOps.Zero, x1 = TOps.Zero, x2 = TOps.Zero, x3 = TOps.Zero;
            float* bp = b + (long)k0 * ldb;
            long ao = (long)k0 * acs;
            for (int p = 0; p < kLen; p++)
            {
                TV b0 = TOps.Load(bp);
                x0 = TOps.Fma(TOps.Broadcast(a0[ao]), b0, x0);
                x1 = TOps.Fma(TOps.Broadcast(a1[ao]), b0, x1);
                x2 = TOps.Fma(TOps.Broadcast(a2[ao]), b0, x2);
                x3 = TOps.Fma(TOps.Broadcast(a3[ao]), b0, x3);
                bp += ldb;
                ao += acs;
            }
            if (s == 0) { y0 = x0; y1 = x1; y2 = x2; y3 = x3; }
            else { y0 = TOps.Add(y0, x0); y1 = TOps.Add(y1, x1); y2 = TOps.Add(y2, x2); y3 = TOps.Add(y3, x3); }
        }
        TOps.Store(c, y0);
        if (rows > 1) TOps.Store(c + ldc, y1);
        if (rows > 2) TOps.Store(c + 2L * ldc, y2);
        if (rows > 3) TOps.Store(c + 3L * ldc, y3);
    }

    /// <summary>An empty product: C stays (accumulate) or is zeroed (an empty k); true when there is nothing to multiply.</summary>
    private static bool NothingToMultiply(int m, int n, int k, float* c, int ldc, bool accumulate)
    {
        if (m <= 0 || n <= 0) return true;
        if (k > 0) return false;
        if (!accumulate) ZeroRows(m, n, c, ldc);
        return true;
    }

    private static void ZeroRows(int m, int n, float* c, int ldc)
    {
        for (int i = 0; i < m; i++) new Span<float>(c + (long)i * ldc, n).Clear();
    }

    private static void Block(int m, int n, int kLen, float* a, int ars, int acs, float* b, int ldb, float* c, int ldc, bool load, bool add)
    {
        int j = 0;
        switch (Kernels.Path)
        {
            case KernelPath.Vector512:
                j = Panels2x6<V512, Vector512<float>>(j, m, n, kLen, a, ars, acs, b, ldb, c, ldc, load, add);
                j = Panels1<V512, Vector512<float>>(j, m, n, kLen, a, ars, acs, b, ldb, c, ldc, load, add);
                j = Panels1<V256, Vector256<float>>(j, m, n, kLen, a, ars, acs, b, ldb, c, ldc, load, add);
                break;
            case KernelPath.Vector256:
                j = Panels2x6<V256, Vector256<float>>(j, m, n, kLen, a, ars, acs, b, ldb, c, ldc, load, add);
                j = Panels1<V256, Vector256<float>>(j, m, n, kLen, a, ars, acs, b, ldb, c, ldc, load, add);
                break;
        }
        Panels1<Scalar, float>(j, m, n, kLen, a, ars, acs, b, ldb, c, ldc, load, add);
    }

    private static int Panels2<TOps, TV>(int j, int m, int n, int kLen, float* a, int ars, int acs, float* b, int ldb, float* c, int ldc, bool load, bool add)
        where TOps : struct, IVec<TV> where TV : unmanaged
    {
        int w = 2 * TOps.Width;
        for (; j + w <= n; j += w)
            for (int i = 0; i < m; i += Rows)
                Tile2<TOps, TV>(System.Math.Min(Rows, m - i), kLen, a + (long)i * ars, ars, acs, b + j, ldb, c + (long)i * ldc + j, ldc, load, add);
        return j;
    }

    private static int Panels1<TOps, TV>(int j, int m, int n, int kLen, float* a, int ars, int acs, float* b, int ldb, float* c, int ldc, bool load, bool add)
        where TOps : struct, IVec<TV> where TV : unmanaged
    {
        int w = TOps.Width;
        for (; j + w <= n; j += w)
            for (int i = 0; i < m; i += Rows)
                Tile1<TOps, TV>(System.Math.Min(Rows, m - i), kLen, a + (long)i * ars, ars, acs, b + j, ldb, c + (long)i * ldc + j, ldc, load, add);
        return j;
    }

    // C[rows × 2W] (+)= A[rows × kLen] · B[kLen × 2W]. Rows past `rows` alias row 0 (computed, never stored).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile2<TOps, TV>(int rows, int kLen, float* a, int ars, int acs, float* b, int ldb, float* c, int ldc, bool load, bool add)
        where TOps : struct, IVec<TV> where TV : unmanaged
    {
        int w = TOps.Width;
        float* a0 = a, a1 = rows > 1 ? a + ars : a, a2 = rows > 2 ? a + 2L * ars : a, a3 = rows > 3 ? a + 3L * ars : a;
        float* c0 = c, c1 = rows > 1 ? c + ldc : c, c2 = rows > 2 ? c + 2L * ldc : c, c3 = rows > 3 ? c + 3L * ldc : c;
        TV x00, x01, x10, x11, x20, x21, x30, x31;
        if (load)
        {
            x00 = TOps.Load(c0); x01 = TOps.Load(c0 + w); x10 = TOps.Load(c1); x11 = TOps.Load(c1 + w);
            x20 = TOps.Load(c2); x21 = TOps.Load(c2 + w); x30 = TOps.Load(c3); x31 = TOps.Load(c3 + w);
        }
        else
        {
            x00 = x01 = x10 = x11 = x20 = x21 = x30 = x31 = TOps.Zero;
        }
        float* bp = b;
        long ao = 0;
        for (int p = 0; p < kLen; p++)
        {
            TV b0 = TOps.Load(bp), b1 = TOps.Load(bp + w);
            TV s = TOps.Broadcast(a0[ao]); x00 = TOps.Fma(s, b0, x00); x01 = TOps.Fma(s, b1, x01);
            s = TOps.Broadcast(a1[ao]); x10 = TOps.Fma(s, b0, x10); x11 = TOps.Fma(s, b1, x11);
            s = TOps.Broadcast(a2[ao]); x20 = TOps.Fma(s, b0, x20); x21 = TOps.Fma(s, b1, x21);
            s = TOps.Broadcast(a3[ao]); x30 = TOps.Fma(s, b0, x30); x31 = TOps.Fma(s, b1, x31);
            bp += ldb;
            ao += acs;
        }
        if (add)
        {
            x00 = TOps.Add(TOps.Load(c0), x00); x01 = TOps.Add(TOps.Load(c0 + w), x01);
            x10 = TOps.Add(TOps.Load(c1), x10); x11 = TOps.Add(TOps.Load(c1 + w), x11);
            x20 = TOps.Add(TOps.Load(c2), x20); x21 = TOps.Add(TOps.Load(c2 + w), x21);
            x30 = TOps.Add(TOps.Load(c3), x30); x31 = TOps.Add(TOps.Load(c3 + w), x31);
        }
        TOps.Store(c0, x00); TOps.Store(c0 + w, x01);
        if (rows > 1) { TOps.Store(c1, x10); TOps.Store(c1 + w, x11); }
        if (rows > 2) { TOps.Store(c2, x20); TOps.Store(c2 + w, x21); }
        if (rows > 3) { TOps.Store(c3, x30); TOps.Store(c3 + w, x31); }
    }

    // C[rows × W] (+)= A[rows × kLen] · B[kLen × W]; the same chain as Tile2, for edge columns.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile1<TOps, TV>(int rows, int kLen, float* a, int ars, int acs, float* b, int ldb, float* c, int ldc, bool load, bool add)
        where TOps : struct, IVec<TV> where TV : unmanaged
    {
        float* a0 = a, a1 = rows > 1 ? a + ars : a, a2 = rows > 2 ? a + 2L * ars : a, a3 = rows > 3 ? a + 3L * ars : a;
        float* c0 = c, c1 = rows > 1 ? c + ldc : c, c2 = rows > 2 ? c + 2L * ldc : c, c3 = rows > 3 ? c + 3L * ldc : c;
        TV x0, x1, x2, x3;
        if (load) { x0 = TOps.Load(c0); x1 = TOps.Load(c1); x2 = TOps.Load(c2); x3 = TOps.Load(c3); }
        else x0 = x1 = x2 = x3 = TOps.Zero;
        float* bp = b;
        long ao = 0;
        for (int p = 0; p < kLen; p++)
        {
            TV b0 = TOps.Load(bp);
            x0 = TOps.Fma(TOps.Broadcast(a0[ao]), b0, x0);
            x1 = TOps.Fma(TOps.Broadcast(a1[ao]), b0, x1);
            x2 = TOps.Fma(TOps.Broadcast(a2[ao]), b0, x2);
            x3 = TOps.Fma(TOps.Broadcast(a3[ao]), b0, x3);
            bp += ldb;
            ao += acs;
        }
        if (add)
        {
            x0 = TOps.Add(TOps.Load(c0), x0); x1 = TOps.Add(TOps.Load(c1), x1);
            x2 = TOps.Add(TOps.Load(c2), x2); x3 = TOps.Add(TOps.Load(c3), x3);
        }
        TOps.Store(c0, x0);
        if (rows > 1) TOps.Store(c1, x1);
        if (rows > 2) TOps.Store(c2, x2);
        if (rows > 3) TOps.Store(c3, x3);
    }

    /// <summary>dst[cols × rows] = srcᵀ for a row-major src[rows × cols]; blocked so both sides stay in cache.</summary>
    public static void Transpose(int rows, int cols, float* src, float* dst) => Transpose(rows, cols, src, dst, 0, rows);

    /// <summary>The rows [<paramref name="rowFrom"/>, <paramref name="rowTo"/>) of src into their columns of dst (a band, for a team).</summary>
    public static void Transpose(int rows, int cols, float* src, float* dst, int rowFrom, int rowTo)
    {
        int i0 = rowFrom;
        if (Kernels.Path != KernelPath.Scalar && System.Runtime.Intrinsics.X86.Avx.IsSupported)
        {
            // whole 8 × 8 blocks in registers (a copy: the bits are the source's), then the edges below
            int cols8 = cols & ~7;
            for (; i0 + 8 <= rowTo; i0 += 8)
            {
                for (int j0 = 0; j0 < cols8; j0 += 8) Transpose8x8(src + (long)i0 * cols + j0, cols, dst + (long)j0 * rows + i0, rows);
                if (cols8 < cols) TransposeScalar(rows, cols, src, dst, i0, i0 + 8, cols8);
            }
        }
        TransposeScalar(rows, cols, src, dst, i0, rowTo, 0);
    }

    // src[i, j] → dst[j, i] for rows [rowFrom, rowTo) and columns [colFrom, cols), in 16 × 16 blocks so both sides stay in cache.
    private static void TransposeScalar(int rows, int cols, float* src, float* dst, int rowFrom, int rowTo, int colFrom)
    {
        const int T = 16;
        for (int i0 = rowFrom; i0 < rowTo; i0 += T)
        {
            int i1 = System.Math.Min(rowTo, i0 + T);
            for (int j0 = colFrom; j0 < cols; j0 += T)
            {
                int j1 = System.Math.Min(cols, j0 + T);
                for (int i = i0; i < i1; i++)
                {
                    float* s = src + (long)i * cols;
                    for (int j = j0; j < j1; j++) dst[(long)j * rows + i] = s[j];
                }
            }
        }
    }

    /// <summary>The 8 × 8 block at <paramref name="s"/> (rows <paramref name="ls"/> floats apart) transposed into <paramref name="d"/> (rows <paramref name="ld"/> apart).</summary>
    private static void Transpose8x8(float* s, int ls, float* d, int ld)
    {
        // rows a…h; unpack pairs rows, shuffle makes quarter-columns, the 128-bit halves put each column together
        Vector256<float> a = Vector256.Load(s), b = Vector256.Load(s + ls), c = Vector256.Load(s + 2L * ls), e = Vector256.Load(s + 3L * ls),
            f = Vector256.Load(s + 4L * ls), g = Vector256.Load(s + 5L * ls), h = Vector256.Load(s + 6L * ls), k = Vector256.Load(s + 7L * ls);
        var t0 = Avx.UnpackLow(a, b); var t1 = Avx.UnpackHigh(a, b);   // a0 b0 a1 b1 | a4 b4 a5 b5;  a2 b2 a3 b3 | a6 b6 a7 b7
        var t2 = Avx.UnpackLow(c, e); var t3 = Avx.UnpackHigh(c, e);
        var t4 = Avx.UnpackLow(f, g); var t5 = Avx.UnpackHigh(f, g);
        var t6 = Avx.UnpackLow(h, k); var t7 = Avx.UnpackHigh(h, k);
        var q0 = Avx.Shuffle(t0, t2, 0x44); var q1 = Avx.Shuffle(t0, t2, 0xEE); // a0 b0 c0 d0 | a4 b4 c4 d4;  column 1 | 5
        var q2 = Avx.Shuffle(t1, t3, 0x44); var q3 = Avx.Shuffle(t1, t3, 0xEE);
        var q4 = Avx.Shuffle(t4, t6, 0x44); var q5 = Avx.Shuffle(t4, t6, 0xEE);
        var q6 = Avx.Shuffle(t5, t7, 0x44); var q7 = Avx.Shuffle(t5, t7, 0xEE);
        Avx.Permute2x128(q0, q4, 0x20).Store(d);
        Avx.Permute2x128(q1, q5, 0x20).Store(d + ld);
        Avx.Permute2x128(q2, q6, 0x20).Store(d + 2L * ld);
        Avx.Permute2x128(q3, q7, 0x20).Store(d + 3L * ld);
        Avx.Permute2x128(q0, q4, 0x31).Store(d + 4L * ld);
        Avx.Permute2x128(q1, q5, 0x31).Store(d + 5L * ld);
        Avx.Permute2x128(q2, q6, 0x31).Store(d + 6L * ld);
        Avx.Permute2x128(q3, q7, 0x31).Store(d + 7L * ld);
    }
}
