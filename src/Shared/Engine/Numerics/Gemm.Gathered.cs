using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace DistributedNN.Numerics;

/// <summary>
/// Products with one operand read where it lies, through offset tables, instead of copied into a matrix first: a
/// convolution's patch matrix (im2col) read straight from the image ("implicit GEMM"). Every element of C is the same one
/// FMA chain over k in increasing order as <see cref="MatMul"/> computes from the copied matrix (k-blocked the same way,
/// the chain carried through C between blocks), so the bits are those of the copy-then-multiply. 256-bit vectors, on
/// both vector paths (a 512-bit vector would span two image rows of an 8-wide output); 6-row × 2-vector tiles, 4-row
/// tiles for the last rows.
/// </summary>
public static unsafe partial class Gemm
{
    /// <summary>
    /// C[m × n] (+)= A[m × k] · B[k × n], A row-major (A(i, p) = a[i·ars + p]) and B(p, j) = b[rowOff[p] + runOff[j / 8] + j % 8]:
    /// B's columns come in runs of 8 contiguous floats (n a multiple of 16). With <paramref name="accumulate"/> the chains continue from C.
    /// </summary>
    public static void MatMulGatherB(int m, int n, int k, float* a, int ars, float* b, int* rowOff, int* runOff, float* c, int ldc, bool accumulate)
    {
        if (n % 16 != 0) throw new ArgumentException($"{n} columns: a gathered B needs a multiple of 16");
        if (NothingToMultiply(m, n, k, c, ldc, accumulate)) return;
        for (int k0 = 0; k0 < k; k0 += KBlock)
        {
            int kLen = System.Math.Min(KBlock, k - k0);
            bool load = accumulate || k0 > 0;
            for (int j = 0; j < n; j += 16)
            {
                int o0 = runOff[j / 8], o1 = runOff[j / 8 + 1];
                for (int i = 0; i < m; i += Rows6)
                    GatherBTile(System.Math.Min(Rows6, m - i), kLen, a + (long)i * ars + k0, ars, b, rowOff + k0, o0, o1, c + (long)i * ldc + j, ldc, load);
            }
        }
    }

    /// <summary>
    /// C[m × n] (+)= A[m × k] · B[k × n], B row-major (B(p, j) = b[p·ldb + j]) and A(i, p) = a[rowOff[i] + colOff[p]]
    /// (n a multiple of 16). With <paramref name="accumulate"/> the chains continue from C.
    /// </summary>
    public static void MatMulGatherA(int m, int n, int k, float* a, int* rowOff, int* colOff, float* b, int ldb, float* c, int ldc, bool accumulate)
    {
        if (n % 16 != 0) throw new ArgumentException($"{n} columns: a gathered A needs a multiple of 16");
        if (NothingToMultiply(m, n, k, c, ldc, accumulate)) return;
        for (int k0 = 0; k0 < k; k0 += KBlock)
        {
            int kLen = System.Math.Min(KBlock, k - k0);
            bool load = accumulate || k0 > 0;
            for (int j = 0; j < n; j += 16)
                for (int i = 0; i < m; i += Rows6)
                    GatherATile(System.Math.Min(Rows6, m - i), kLen, a, rowOff + i, colOff + k0, b + (long)k0 * ldb + j, ldb, c + (long)i * ldc + j, ldc, load);
        }
    }

    // C[rows × 16] (+)= A[rows × kLen] · B, B's two vectors at b + rowOff[p] + o0 and + o1. Rows past `rows` alias row 0 (computed, never stored).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void GatherBTile(int rows, int kLen, float* a, int ars, float* b, int* rowOff, int o0, int o1, float* c, int ldc, bool load)
    {
        float* a0 = a, a1 = rows > 1 ? a + ars : a, a2 = rows > 2 ? a + 2L * ars : a;
        float* a3 = rows > 3 ? a + 3L * ars : a, a4 = rows > 4 ? a + 4L * ars : a, a5 = rows > 5 ? a + 5L * ars : a;
        Vector256<float> x00, x01, x10, x11, x20, x21, x30, x31, x40, x41, x50, x51;
        x00 = x01 = x10 = x11 = x20 = x21 = x30 = x31 = x40 = x41 = x50 = x51 = Vector256<float>.Zero;
        if (load) LoadTile(rows, c, ldc, ref x00, ref x01, ref x10, ref x11, ref x20, ref x21, ref x30, ref x31, ref x40, ref x41, ref x50, ref x51);
        float* b0p = b + o0, b1p = b + o1;
        for (int p = 0; p < kLen; p++)
        {
            int off = rowOff[p];
            var b0 = Vector256.Load(b0p + off);
            var b1 = Vector256.Load(b1p + off);
            var s = Vector256.Create(a0[p]); x00 = Vector256.FusedMultiplyAdd(s, b0, x00); x01 = Vector256.FusedMultiplyAdd(s, b1, x01);
            s = Vector256.Create(a1[p]); x10 = Vector256.FusedMultiplyAdd(s, b0, x10); x11 = Vector256.FusedMultiplyAdd(s, b1, x11);
            s = Vector256.Create(a2[p]); x20 = Vector256.FusedMultiplyAdd(s, b0, x20); x21 = Vector256.FusedMultiplyAdd(s, b1, x21);
            s = Vector256.Create(a3[p]); x30 = Vector256.FusedMultiplyAdd(s, b0, x30); x31 = Vector256.FusedMultiplyAdd(s, b1, x31);
            s = Vector256.Create(a4[p]); x40 = Vector256.FusedMultiplyAdd(s, b0, x40); x41 = Vector256.FusedMultiplyAdd(s, b1, x41);
            s = Vector256.Create(a5[p]); x50 = Vector256.FusedMultiplyAdd(s, b0, x50); x51 = Vector256.FusedMultiplyAdd(s, b1, x51);
        }
        StoreTile(rows, c, ldc, x00, x01, x10, x11, x20, x21, x30, x31, x40, x41, x50, x51);
    }

    // C[rows × 16] (+)= A · B[kLen × 16], A(r, p) = a[rowOff[r] + colOff[p]]. Rows past `rows` alias row 0 (computed, never stored).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void GatherATile(int rows, int kLen, float* a, int* rowOff, int* colOff, float* b, int ldb, float* c, int ldc, bool load)
    {
        float* a0 = a + rowOff[0], a1 = rows > 1 ? a + rowOff[1] : a0, a2 = rows > 2 ? a + rowOff[2] : a0;
        float* a3 = rows > 3 ? a + rowOff[3] : a0, a4 = rows > 4 ? a + rowOff[4] : a0, a5 = rows > 5 ? a + rowOff[5] : a0;
        Vector256<float> x00, x01, x10, x11, x20, x21, x30, x31, x40, x41, x50, x51;
        x00 = x01 = x10 = x11 = x20 = x21 = x30 = x31 = x40 = x41 = x50 = x51 = Vector256<float>.Zero;
        if (load) LoadTile(rows, c, ldc, ref x00, ref x01, ref x10, ref x11, ref x20, ref x21, ref x30, ref x31, ref x40, ref x41, ref x50, ref x51);
        float* bp = b;
        for (int p = 0; p < kLen; p++)
        {
            int off = colOff[p];
            var b0 = Vector256.Load(bp);
            var b1 = Vector256.Load(bp + 8);
            var s = Vector256.Create(a0[off]); x00 = Vector256.FusedMultiplyAdd(s, b0, x00); x01 = Vector256.FusedMultiplyAdd(s, b1, x01);
            s = Vector256.Create(a1[off]); x10 = Vector256.FusedMultiplyAdd(s, b0, x10); x11 = Vector256.FusedMultiplyAdd(s, b1, x11);
            s = Vector256.Create(a2[off]); x20 = Vector256.FusedMultiplyAdd(s, b0, x20); x21 = Vector256.FusedMultiplyAdd(s, b1, x21);
            s = Vector256.Create(a3[off]); x30 = Vector256.FusedMultiplyAdd(s, b0, x30); x31 = Vector256.FusedMultiplyAdd(s, b1, x31);
            s = Vector256.Create(a4[off]); x40 = Vector256.FusedMultiplyAdd(s, b0, x40); x41 = Vector256.FusedMultiplyAdd(s, b1, x41);
            s = Vector256.Create(a5[off]); x50 = Vector256.FusedMultiplyAdd(s, b0, x50); x51 = Vector256.FusedMultiplyAdd(s, b1, x51);
            bp += ldb;
        }
        StoreTile(rows, c, ldc, x00, x01, x10, x11, x20, x21, x30, x31, x40, x41, x50, x51);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void LoadTile(int rows, float* c, int ldc, ref Vector256<float> x00, ref Vector256<float> x01, ref Vector256<float> x10, ref Vector256<float> x11,
        ref Vector256<float> x20, ref Vector256<float> x21, ref Vector256<float> x30, ref Vector256<float> x31, ref Vector256<float> x40, ref Vector256<float> x41,
        ref Vector256<float> x50, ref Vector256<float> x51)
    {
        x00 = Vector256.Load(c); x01 = Vector256.Load(c + 8);
        if (rows > 1) { x10 = Vector256.Load(c + ldc); x11 = Vector256.Load(c + ldc + 8); }
        if (rows > 2) { x20 = Vector256.Load(c + 2L * ldc); x21 = Vector256.Load(c + 2L * ldc + 8); }
        if (rows > 3) { x30 = Vector256.Load(c + 3L * ldc); x31 = Vector256.Load(c + 3L * ldc + 8); }
        if (rows > 4) { x40 = Vector256.Load(c + 4L * ldc); x41 = Vector256.Load(c + 4L * ldc + 8); }
        if (rows > 5) { x50 = Vector256.Load(c + 5L * ldc); x51 = Vector256.Load(c + 5L * ldc + 8); }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreTile(int rows, float* c, int ldc, Vector256<float> x00, Vector256<float> x01, Vector256<float> x10, Vector256<float> x11,
        Vector256<float> x20, Vector256<float> x21, Vector256<float> x30, Vector256<float> x31, Vector256<float> x40, Vector256<float> x41,
        Vector256<float> x50, Vector256<float> x51)
    {
        x00.Store(c); x01.Store(c + 8);
        if (rows > 1) { x10.Store(c + ldc); x11.Store(c + ldc + 8); }
        if (rows > 2) { x20.Store(c + 2L * ldc); x21.Store(c + 2L * ldc + 8); }
        if (rows > 3) { x30.Store(c + 3L * ldc); x31.Store(c + 3L * ldc + 8); }
        if (rows > 4) { x40.Store(c + 4L * ldc); x41.Store(c + 4L * ldc + 8); }
        if (rows > 5) { x50.Store(c + 5L * ldc); x51.Store(c + 5L * ldc + 8); }
    }
}
