using DistributedNN.Coordinator;

namespace DistributedNN.Tests.Coordination;

/// <summary>
/// <see cref="ReduceTopology.Cut"/>, the slices of a sharded layout: S + 1 strictly increasing bounds from 0 to P, on
/// multiples of 16 whenever every slice can have 16 values (P ≥ 16·S), each slice within one alignment unit of P/S.
/// </summary>
public sealed class ReduceTopologyTests
{
    [Fact]
    public void Every_cut_covers_the_vector_in_near_equal_slices_aligned_when_it_can_be()
    {
        int[] sizes = [1, 2, 15, 16, 17, 31, 32, 33, 100, 1023, 1024, 1025, 5_052, 16_384, 16_400, 235_146, 1_000_003];
        int[] slicesTried = [1, 2, 3, 5, 7, 8, 15, 16, 17, 63, 64, 65, 1024];
        int cuts = 0;
        foreach (int p in sizes)
            foreach (int s in slicesTried.Append(p).Append(p / 16).Append(p / 16 + 1).Where(s => s >= 1 && s <= p).Distinct())
            {
                var bounds = ReduceTopology.Cut(p, s);
                var context = $"P = {p}, {s} slices: {string.Join(",", bounds.Take(20))}";
                Assert.True(bounds.Length == s + 1, context);
                Assert.True(bounds[0] == 0 && bounds[s] == p, context);
                bool aligned = p >= ReduceTopology.Alignment * s;
                int unit = aligned ? ReduceTopology.Alignment : 1;
                for (int i = 0; i < s; i++)
                {
                    int length = bounds[i + 1] - bounds[i];
                    Assert.True(length > 0, $"{context}: slice {i} is empty");
                    Assert.True(Math.Abs(length - (double)p / s) < unit, $"{context}: slice {i} has {length} values");
                    if (aligned) Assert.True(bounds[i] % ReduceTopology.Alignment == 0, $"{context}: bound {i} is off 16");
                }
                cuts++;
            }
        Assert.True(cuts > 150, $"{cuts} cuts");
    }

    [Fact]
    public void One_slice_is_the_whole_vector_and_sixteen_per_slice_is_exact()
    {
        Assert.Equal([0, 5_052], ReduceTopology.Cut(5_052, 1));
        Assert.Equal([0, 16, 32, 48], ReduceTopology.Cut(48, 3));
        Assert.Equal([0, 15, 31, 47], ReduceTopology.Cut(47, 3)); // too small to align: one value of slack
        Assert.Equal([0, 1, 2, 3], ReduceTopology.Cut(3, 3));
    }

    [Theory]
    [InlineData(10, 0)]
    [InlineData(10, -1)]
    [InlineData(10, 11)]
    [InlineData(0, 1)]
    public void No_slices_or_more_slices_than_values_is_a_programming_error(int parameters, int slices) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => ReduceTopology.Cut(parameters, slices));
}
