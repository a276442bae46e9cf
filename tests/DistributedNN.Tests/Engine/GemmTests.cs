using DistributedNN.Numerics;

namespace DistributedNN.Tests.Engine;

/// <summary>Every kernel path against a plain double-precision reference, on odd shapes.</summary>
[Collection(KernelPathCollection.Name)]
public sealed unsafe class GemmTests
{
    public static TheoryData<KernelPath> Paths() => new() { KernelPath.Scalar, KernelPath.Vector256, KernelPath.Vector512 };

    private static float[] Random(int n, ulong seed)
    {
        var rng = new Rng(seed);
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        return x;
    }

    // C(i,j) = Σ_p A(i,p)·B(p,j) in double, A read through strides as the kernel does.
    private static double[] Reference(int m, int n, int k, float[] a, int ars, int acs, float[] b, int ldb)
    {
        var c = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int p = 0; p < k; p++) s += (double)a[i * ars + p * acs] * b[p * ldb + j];
                c[i * n + j] = s;
            }
        return c;
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void Every_path_matches_the_reference_on_odd_shapes(KernelPath path)
    {
        using var _ = KernelPathScope.Use(path);
        int[] sizes = [1, 7, 33, 257];
        foreach (int m in sizes)
        foreach (int n in sizes)
        foreach (int k in new[] { 1, 7, 33, 257 })
        {
            var a = Random(m * k, 1); var b = Random(k * n, 2); var c = new float[m * n];
            fixed (float* pa = a, pb = b, pc = c) Gemm.MatMul(m, n, k, pa, k, 1, pb, n, pc, n, accumulate: false);
            var expected = Reference(m, n, k, a, k, 1, b, n);
            for (int i = 0; i < c.Length; i++)
                Assert.True(System.Math.Abs(c[i] - expected[i]) <= 1e-5 * k, $"m={m} n={n} k={k} [{i}]: {c[i]} vs {expected[i]}");
        }
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void Transposed_A_through_strides_matches_the_reference(KernelPath path)
    {
        using var _ = KernelPathScope.Use(path);
        int m = 33, n = 257, k = 7;
        var at = Random(k * m, 3); // stored [k × m]: A(i,p) = at[p*m + i]
        var b = Random(k * n, 4); var c = new float[m * n];
        fixed (float* pa = at, pb = b, pc = c) Gemm.MatMul(m, n, k, pa, 1, m, pb, n, pc, n, accumulate: false);
        var expected = Reference(m, n, k, at, 1, m, b, n);
        for (int i = 0; i < c.Length; i++) Assert.Equal(expected[i], c[i], 1e-4);
    }

    [Fact]
    public void All_paths_give_the_same_bits()
    {
        int m = 37, n = 91, k = 300; // k spans more than one k-block
        var a = Random(m * k, 5); var b = Random(k * n, 6);
        float[]? first = null;
        foreach (var path in new[] { KernelPath.Scalar, KernelPath.Vector256, KernelPath.Vector512 })
        {
            using var _ = KernelPathScope.Use(path);
            var c = new float[m * n];
            fixed (float* pa = a, pb = b, pc = c) Gemm.MatMul(m, n, k, pa, k, 1, pb, n, pc, n, accumulate: false);
            if (first is null) first = c;
            else Assert.Equal(first, c);
        }
    }

    [Fact]
    public void The_segmented_product_gives_the_same_bits_on_all_paths_for_row_counts_around_the_tiles()
    {
        int n = 70;
        int[] bounds = [0, 9, 9, 140, 301]; // the last segment spans more than a k-block
        foreach (int m in new[] { 1, 5, 6, 7, 13, 17 })
        {
            var a = Random(m * 301, 14); var b = Random(301 * n, 15);
            float[]? first = null;
            foreach (var path in new[] { KernelPath.Scalar, KernelPath.Vector256, KernelPath.Vector512 })
            {
                using var _ = KernelPathScope.Use(path);
                var c = new float[m * n];
                fixed (float* pa = a, pb = b, pc = c) Gemm.MatMulSegmented(m, n, bounds, pa, 301, 1, pb, n, pc, n);
                if (first is null) first = c;
                else Assert.Equal(first, c);
            }
        }
    }

    [Fact]
    public void A_row_does_not_depend_on_the_rows_computed_with_it()
    {
        int m = 13, n = 50, k = 200;
        var a = Random(m * k, 7); var b = Random(k * n, 8);
        var all = new float[m * n];
        fixed (float* pa = a, pb = b, pc = all) Gemm.MatMul(m, n, k, pa, k, 1, pb, n, pc, n, false);
        for (int row = 0; row < m; row++)
        {
            var one = new float[n];
            fixed (float* pa = a, pb = b, pc = one) Gemm.MatMul(1, n, k, pa + row * k, k, 1, pb, n, pc, n, false);
            Assert.Equal(all.AsSpan(row * n, n).ToArray(), one);
        }
    }

    [Fact]
    public void The_shard_ordered_sum_makes_the_segmented_product_s_additions_and_skips_empty_shards()
    {
        int m = 6, n = 37, k = 29;
        int[] bounds = [0, 7, 7, 20, 29]; // an empty segment
        var a = Random(m * k, 11); var b = Random(k * n, 12);
        var segmented = new float[m * n];
        fixed (float* pa = a, pb = b, pc = segmented) Gemm.MatMulSegmented(m, n, bounds, pa, k, 1, pb, n, pc, n);
        var parts = new float[bounds.Length - 1][];
        for (int s = 0; s + 1 < bounds.Length; s++)
        {
            parts[s] = new float[m * n];
            fixed (float* pa = a, pb = b, pc = parts[s]) Gemm.MatMul(m, n, bounds[s + 1] - bounds[s], pa + bounds[s], k, 1, pb + bounds[s] * n, n, pc, n, false);
        }
        var stored = new Stored(parts, bounds);
        var total = Random(m * n, 13); // overwritten, not added to
        ShardOrder.Sum(ref stored, total, new float[m * n]);
        Assert.Equal(segmented, total);

        var none = new Stored(parts, [0, 0, 0]);
        ShardOrder.Sum(ref none, total, new float[m * n]);
        Assert.All(total, v => Assert.Equal(0f, v));
    }

    private readonly struct Stored(float[][] parts, int[] bounds) : ShardOrder.IShards
    {
        public int Count => bounds.Length - 1;
        public ReadOnlySpan<float> Part(int shard, Span<float> scratch) => bounds[shard + 1] == bounds[shard] ? default : parts[shard];
    }

    [Fact]
    public void Segmented_product_equals_segment_products_added_in_order()
    {
        int m = 10, n = 40, k = 29;
        int[] bounds = [0, 7, 7, 20, 29]; // includes an empty segment
        var a = Random(m * k, 9); var b = Random(k * n, 10);
        var c = new float[m * n];
        fixed (float* pa = a, pb = b, pc = c) Gemm.MatMulSegmented(m, n, bounds, pa, k, 1, pb, n, pc, n);

        var expected = new float[m * n];
        for (int s = 0; s + 1 < bounds.Length; s++)
        {
            int len = bounds[s + 1] - bounds[s];
            var part = new float[m * n];
            fixed (float* pa = a, pb = b, pc = part) Gemm.MatMul(m, n, len, pa + bounds[s], k, 1, pb + bounds[s] * n, n, pc, n, false);
            for (int i = 0; i < expected.Length; i++) expected[i] = s == 0 ? part[i] : expected[i] + part[i];
        }
        Assert.Equal(expected, c);
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void Transpose_swaps_rows_and_columns_whole_and_in_bands(KernelPath path)
    {
        using var _ = KernelPathScope.Use(path);
        // whole 8 × 8 blocks, edges of every width, and a team's bands (rows [from, to) only)
        foreach (var (rows, cols) in new[] { (19, 35), (8, 8), (16, 24), (1, 9), (9, 1), (784, 256), (33, 7) })
        {
            var src = Random(rows * cols, (ulong)(rows * 100 + cols)); var dst = new float[rows * cols];
            fixed (float* ps = src, pd = dst) Gemm.Transpose(rows, cols, ps, pd);
            for (int i = 0; i < rows; i++)
                for (int j = 0; j < cols; j++)
                    Assert.Equal(src[i * cols + j], dst[j * rows + i]);

            var banded = Enumerable.Repeat(float.NaN, rows * cols).ToArray();
            int middle = rows / 3 + 1;
            fixed (float* ps = src, pd = banded)
            {
                Gemm.Transpose(rows, cols, ps, pd, 0, middle);
                Gemm.Transpose(rows, cols, ps, pd, middle, rows);
            }
            Assert.Equal(dst, banded);
        }
    }
}

/// <summary>Tests that switch the global kernel path run one at a time.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class KernelPathCollection
{
    public const string Name = "kernel path";
}

public sealed class KernelPathScope : IDisposable
{
    private readonly KernelPath _previous;
    private KernelPathScope(KernelPath path) { _previous = Kernels.Path; Kernels.Path = path; }
    public static KernelPathScope Use(KernelPath path) => new(path);
    public void Dispose() => Kernels.Path = _previous;
}
