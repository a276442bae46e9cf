using DistributedNN.Numerics;

namespace DistributedNN.Tests.Engine;

/// <summary>
/// A <see cref="GemmTeam"/> splits a product by columns or rows among its threads; every element must keep the bits
/// the one-thread <see cref="Gemm"/> gives it, on every kernel path and odd shape, split or not.
/// </summary>
[Collection(KernelPathCollection.Name)]
public sealed unsafe class GemmTeamTests
{
    public static TheoryData<KernelPath, int> PathsAndThreads()
    {
        var data = new TheoryData<KernelPath, int>();
        foreach (var path in new[] { KernelPath.Scalar, KernelPath.Vector256, KernelPath.Vector512 })
            foreach (int threads in new[] { 2, 3 })
                data.Add(path, threads);
        return data;
    }

    private static float[] Random(int n, ulong seed)
    {
        var rng = new Rng(seed);
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        return x;
    }

    [Theory]
    [MemberData(nameof(PathsAndThreads))]
    public void A_team_gives_the_bits_of_one_thread_on_odd_shapes(KernelPath path, int threads)
    {
        using var _ = KernelPathScope.Use(path);
        using var team = new GemmTeam(threads);
        // small ones run on the caller; wide ones are cut by columns; tall narrow ones by rows
        int[] sizes = [1, 7, 33, 257, 1000];
        foreach (int m in sizes)
        foreach (int n in sizes)
        foreach (int k in new[] { 1, 7, 257 })
        foreach (bool accumulate in new[] { false, true })
        {
            var a = Random(m * k, 1); var b = Random(k * n, 2);
            var expected = Random(m * n, 3); var actual = (float[])expected.Clone();
            fixed (float* pa = a, pb = b, pe = expected, pc = actual)
            {
                Gemm.MatMul(m, n, k, pa, k, 1, pb, n, pe, n, accumulate);
                team.MatMul(m, n, k, pa, k, 1, pb, n, pc, n, accumulate);
            }
            Assert.True(expected.AsSpan().SequenceEqual(actual), $"m={m} n={n} k={k} accumulate={accumulate} differs");
        }
    }

    [Theory]
    [MemberData(nameof(PathsAndThreads))]
    public void A_team_keeps_the_segment_order_of_a_segmented_product_and_reads_A_through_strides(KernelPath path, int threads)
    {
        using var _ = KernelPathScope.Use(path);
        using var team = new GemmTeam(threads);
        foreach (var (m, n) in new[] { (256, 784), (10, 128), (129, 33), (1000, 7) })
        {
            int[] bounds = [0, 13, 13, 40, 97, 128]; // an empty segment too
            int k = bounds[^1];
            var at = Random(k * m, 4); // stored [k × m]: A(i,p) = at[p·m + i], as δᵀ is read in the backward pass
            var b = Random(k * n, 5);
            var expected = new float[m * n]; var actual = new float[m * n];
            fixed (float* pa = at, pb = b, pe = expected, pc = actual)
            {
                Gemm.MatMulSegmented(m, n, bounds, pa, 1, m, pb, n, pe, n);
                team.MatMulSegmented(m, n, bounds, pa, 1, m, pb, n, pc, n);
            }
            Assert.True(expected.AsSpan().SequenceEqual(actual), $"m={m} n={n} differs");
        }
    }

    [Fact]
    public void A_team_can_be_used_again_and_again_and_disposed()
    {
        var team = new GemmTeam(2);
        var a = Random(64 * 300, 6); var b = Random(300 * 128, 7);
        var first = new float[64 * 128]; var again = new float[64 * 128];
        fixed (float* pa = a, pb = b, p1 = first, p2 = again)
        {
            team.MatMul(64, 128, 300, pa, 300, 1, pb, 128, p1, 128, accumulate: false);
            for (int i = 0; i < 500; i++) team.MatMul(64, 128, 300, pa, 300, 1, pb, 128, p2, 128, accumulate: false);
        }
        Assert.True(first.AsSpan().SequenceEqual(again));
        team.Dispose();
        team.Dispose(); // twice is harmless
        Assert.Throws<ArgumentOutOfRangeException>(() => new GemmTeam(0));
    }
}

/// <summary>The team's banded transpose equals the one-thread transpose.</summary>
public sealed unsafe class GemmTeamTransposeTests
{
    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public void A_team_transposes_like_one_thread(int threads)
    {
        using var team = new GemmTeam(threads);
        foreach (var (rows, cols) in new[] { (1, 1), (7, 33), (256, 784), (257, 129), (10, 128), (1000, 3) })
        {
            var src = new float[rows * cols];
            for (int i = 0; i < src.Length; i++) src[i] = i * 0.5f - 3;
            var expected = new float[rows * cols]; var actual = new float[rows * cols];
            fixed (float* s = src, e = expected, a = actual)
            {
                Gemm.Transpose(rows, cols, s, e);
                team.Transpose(rows, cols, s, a);
            }
            Assert.True(expected.AsSpan().SequenceEqual(actual), $"{rows}×{cols}");
            for (int i = 0; i < rows; i++)
                for (int j = 0; j < cols; j++)
                    Assert.Equal(src[i * cols + j], actual[j * rows + i]);
        }
    }
}
