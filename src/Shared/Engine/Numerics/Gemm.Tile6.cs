using System.Runtime.CompilerServices;

namespace DistributedNN.Numerics;

/// <summary>
/// The 256-bit path's micro-tiles: 6 rows × 2 vectors of C in registers (12 accumulators, 2 B vectors and a broadcast:
/// 15 of AVX2's 16 registers), so each k step does 12 FMAs for 8 loads where the 4-row tile does 8 for 6. The chain of
/// every element is the 4-row tile's — one FMA per k in order, from C or zero — so the bits do not change.
/// </summary>
public static unsafe partial class Gemm
{
    private const int Rows6 = 6;

    private static int Panels2x6<TOps, TV>(int j, int m, int n, int kLen, float* a, int ars, int acs, float* b, int ldb, float* c, int ldc, bool load, bool add)
        where TOps : struct, IVec<TV> where TV : unmanaged
    {
        int w = 2 * TOps.Width;
        for (; j + w <= n; j += w)
        {
            int i = 0;
            for (; i + Rows6 <= m; i += Rows6)
                Tile6<TOps, TV>(kLen, a + (long)i * ars, ars, acs, b + j, ldb, c + (long)i * ldc + j, ldc, load, add);
            for (; i < m; i += Rows)
                Tile2<TOps, TV>(System.Math.Min(Rows, m - i), kLen, a + (long)i * ars, ars, acs, b + j, ldb, c + (long)i * ldc + j, ldc, load, add);
        }
        return j;
    }

    private static int SegPanels2x6<TOps, TV>(int j, int m, int n, int* seg, int count, float* a, int ars, int acs, float* b, int ldb, float* c, int ldc)
        where TOps : struct, IVec<TV> where TV : unmanaged
    {
        int w = 2 * TOps.Width;
        for (; j + w <= n; j += w)
        {
            int i = 0;
            for (; i + Rows6 <= m; i += Rows6)
                SegTile6<TOps, TV>(seg, count, a + (long)i * ars, ars, acs, b + j, ldb, c + (long)i * ldc + j, ldc);
            for (; i < m; i += Rows)
                SegTile2<TOps, TV>(System.Math.Min(Rows, m - i), seg, count, a + (long)i * ars, ars, acs, b + j, ldb, c + (long)i * ldc + j, ldc);
        }
        return j;
    }

    // C[6 × 2W] (+)= A[6 × kLen] · B[kLen × 2W], as Tile2.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile6<TOps, TV>(int kLen, float* a, int ars, int acs, float* b, int ldb, float* c, int ldc, bool load, bool add)
        where TOps : struct, IVec<TV> where TV : unmanaged
    {
        int w = TOps.Width;
        TV x00, x01, x10, x11, x20, x21, x30, x31, x40, x41, x50, x51;
        if (load)
        {
            x00 = TOps.Load(c); x01 = TOps.Load(c + w); x10 = TOps.Load(c + ldc); x11 = TOps.Load(c + ldc + w);
            x20 = TOps.Load(c + 2L * ldc); x21 = TOps.Load(c + 2L * ldc + w); x30 = TOps.Load(c + 3L * ldc); x31 = TOps.Load(c + 3L * ldc + w);
            x40 = TOps.Load(c + 4L * ldc); x41 = TOps.Load(c + 4L * ldc + w); x50 = TOps.Load(c + 5L * ldc); x51 = TOps.Load(c + 5L * ldc + w);
        }
        else
        {
            x00 = x01 = x10 = x11 = x20 = x21 = x30 = x31 = x40 = x41 = x50 = x51 = TOps.Zero;
        }
        Run6<TOps, TV>(kLen, a, ars, acs, b, ldb, ref x00, ref x01, ref x10, ref x11, ref x20, ref x21, ref x30, ref x31, ref x40, ref x41, ref x50, ref x51);
        if (add)
        {
            x00 = TOps.Add(TOps.Load(c), x00); x01 = TOps.Add(TOps.Load(c + w), x01);
            x10 = TOps.Add(TOps.Load(c + ldc), x10); x11 = TOps.Add(TOps.Load(c + ldc + w), x11);
            x20 = TOps.Add(TOps.Load(c + 2L * ldc), x20); x21 = TOps.Add(TOps.Load(c + 2L * ldc + w), x21);
            x30 = TOps.Add(TOps.Load(c + 3L * ldc), x30); x31 = TOps.Add(TOps.Load(c + 3L * ldc + w), x31);
            x40 = TOps.Add(TOps.Load(c + 4L * ldc), x40); x41 = TOps.Add(TOps.Load(c + 4L * ldc + w), x41);
            x50 = TOps.Add(TOps.Load(c + 5L * ldc), x50); x51 = TOps.Add(TOps.Load(c + 5L * ldc + w), x51);
        }
        Store6<TOps, TV>(c, ldc, x00, x01, x10, x11, x20, x21, x30, x31, x40, x41, x50, x51);
    }

    // C[6 × 2W] = Σₛ (A·B over segment s), as SegTile2.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void SegTile6<TOps, TV>(int* seg, int count, float* a, int ars, int acs, float* b, int ldb, float* c, int ldc)
        where TOps : struct, IVec<TV> where TV : unmanaged
    {
        TV y00 = TOps.Zero, y01 = y00, y10 = y00, y11 = y00, y20 = y00, y21 = y00, y30 = y00, y31 = y00, y40 = y00, y41 = y00, y50 = y00, y51 = y00;
        for (int s = 0; s < count; s++)
        {
            int k0 = seg[2 * s], kLen = seg[2 * s + 1];
            TV x00 = TOps.Zero, x01 = x00, x10 = x00, x11 = x00, x20 = x00, x21 = x00, x30 = x00, x31 = x00, x40 = x00, x41 = x00, x50 = x00, x51 = x00;
            Run6<TOps, TV>(kLen, a + (long)k0 * acs, ars, acs, b + (long)k0 * ldb, ldb,
                ref x00, ref x01, ref x10, ref x11, ref x20, ref x21, ref x30, ref x31, ref x40, ref x41, ref x50, ref x51);
            if (s == 0)
            {
                (y00, y01, y10, y11, y20, y21) = (x00, x01, x10, x11, x20, x21);
                (y30, y31, y40, y41, y50, y51) = (x30, x31, x40, x41, x50, x51);
            }
            else
            {
                y00 = TOps.Add(y00, x00); y01 = TOps.Add(y01, x01); y10 = TOps.Add(y10, x10); y11 = TOps.Add(y11, x11);
                y20 = TOps.Add(y20, x20); y21 = TOps.Add(y21, x21); y30 = TOps.Add(y30, x30); y31 = TOps.Add(y31, x31);
                y40 = TOps.Add(y40, x40); y41 = TOps.Add(y41, x41); y50 = TOps.Add(y50, x50); y51 = TOps.Add(y51, x51);
            }
        }
        Store6<TOps, TV>(c, ldc, y00, y01, y10, y11, y20, y21, y30, y31, y40, y41, y50, y51);
    }

    // The k loop: every accumulator one FMA per k, in order.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Run6<TOps, TV>(int kLen, float* a, int ars, int acs, float* b, int ldb,
        ref TV x00, ref TV x01, ref TV x10, ref TV x11, ref TV x20, ref TV x21, ref TV x30, ref TV x31, ref TV x40, ref TV x41, ref TV x50, ref TV x51)
        where TOps : struct, IVec<TV> where TV : unmanaged
    {
        int w = TOps.Width;
        float* a0 = a, a1 = a + ars, a2 = a + 2L * ars, a3 = a + 3L * ars, a4 = a + 4L * ars, a5 = a + 5L * ars;
        TV r00 = x00, r01 = x01, r10 = x10, r11 = x11, r20 = x20, r21 = x21, r30 = x30, r31 = x31, r40 = x40, r41 = x41, r50 = x50, r51 = x51;
        float* bp = b;
        long ao = 0;
        for (int p = 0; p < kLen; p++)
        {
            TV b0 = TOps.Load(bp), b1 = TOps.Load(bp + w);
            TV s = TOps.Broadcast(a0[ao]); r00 = TOps.Fma(s, b0, r00); r01 = TOps.Fma(s, b1, r01);
            s = TOps.Broadcast(a1[ao]); r10 = TOps.Fma(s, b0, r10); r11 = TOps.Fma(s, b1, r11);
            s = TOps.Broadcast(a2[ao]); r20 = TOps.Fma(s, b0, r20); r21 = TOps.Fma(s, b1, r21);
            s = TOps.Broadcast(a3[ao]); r30 = TOps.Fma(s, b0, r30); r31 = TOps.Fma(s, b1, r31);
            s = TOps.Broadcast(a4[ao]); r40 = TOps.Fma(s, b0, r40); r41 = TOps.Fma(s, b1, r41);
            s = TOps.Broadcast(a5[ao]); r50 = TOps.Fma(s, b0, r50); r51 = TOps.Fma(s, b1, r51);
            bp += ldb;
            ao += acs;
        }
        (x00, x01, x10, x11, x20, x21) = (r00, r01, r10, r11, r20, r21);
        (x30, x31, x40, x41, x50, x51) = (r30, r31, r40, r41, r50, r51);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store6<TOps, TV>(float* c, int ldc, TV x00, TV x01, TV x10, TV x11, TV x20, TV x21, TV x30, TV x31, TV x40, TV x41, TV x50, TV x51)
        where TOps : struct, IVec<TV> where TV : unmanaged
    {
        int w = TOps.Width;
        TOps.Store(c, x00); TOps.Store(c + w, x01);
        TOps.Store(c + ldc, x10); TOps.Store(c + ldc + w, x11);
        TOps.Store(c + 2L * ldc, x20); TOps.Store(c + 2L * ldc + w, x21);
        TOps.Store(c + 3L * ldc, x30); TOps.Store(c + 3L * ldc + w, x31);
        TOps.Store(c + 4L * ldc, x40); TOps.Store(c + 4L * ldc + w, x41);
        TOps.Store(c + 5L * ldc, x50); TOps.Store(c + 5L * ldc + w, x51);
    }
}
