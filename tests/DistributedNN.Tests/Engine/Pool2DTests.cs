using DistributedNN.Model;

namespace DistributedNN.Tests.Engine;

/// <summary>Max and average pooling against a direct reference, and their gradients against central finite differences.</summary>
public sealed class Pool2DTests
{
    public static TheoryData<PoolShape> Shapes() => new()
    {
        new PoolShape(PoolKind.Max, 1, 4, 4, 2, 2),
        new PoolShape(PoolKind.Max, 3, 7, 5, 3, 2),   // odd sizes, the last row and column left out
        new PoolShape(PoolKind.Max, 2, 5, 5, 3, 1),   // overlapping windows: an input may win several
        new PoolShape(PoolKind.Average, 1, 4, 4, 2, 2),
        new PoolShape(PoolKind.Average, 3, 7, 5, 3, 2),
        new PoolShape(PoolKind.Average, 2, 5, 5, 3, 1),
    };

    /// <summary>Distinct values (a shuffled ramp): no ties, so max pooling is differentiable at the test point.</summary>
    private static double[] Distinct(int n, int seed)
    {
        var order = Enumerable.Range(0, n).ToArray();
        new DistributedNN.Numerics.Rng((ulong)seed).Shuffle(order);
        return order.Select(i => (i - n / 2.0) / n).ToArray();
    }

    internal static double[] Reference(PoolShape s, double[] x, int rows)
    {
        var z = new double[rows * s.OutputSize];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < s.Channels; c++)
                for (int oy = 0; oy < s.OutHeight; oy++)
                    for (int ox = 0; ox < s.OutWidth; ox++)
                    {
                        var window = new List<double>();
                        for (int ky = 0; ky < s.Size; ky++)
                            for (int kx = 0; kx < s.Size; kx++)
                                window.Add(x[r * s.InputSize + (c * s.Height + oy * s.Stride + ky) * s.Width + ox * s.Stride + kx]);
                        z[r * s.OutputSize + (c * s.OutHeight + oy) * s.OutWidth + ox] = s.Kind == PoolKind.Max ? window.Max() : window.Average();
                    }
        return z;
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Forward_and_backward_match_the_reference_and_its_finite_differences(PoolShape s)
    {
        const int rows = 2;
        var x = Distinct(rows * s.InputSize, 7);
        var t = Distinct(rows * s.OutputSize, 8); // E = Σ t ⊙ z
        var pool = new Pool2D(s, rows);
        var z = new float[rows * s.OutputSize];
        pool.Forward(x.Select(v => (float)v).ToArray(), rows, z);
        var expected = Reference(s, x, rows);
        for (int i = 0; i < z.Length; i++) Assert.Equal(expected[i], z[i], 1e-6);

        var dx = new float[rows * s.InputSize];
        pool.Backward(t.Select(v => (float)v).ToArray(), rows, dx);
        const double h = 1e-6;
        for (int i = 0; i < x.Length; i++)
        {
            var plus = (double[])x.Clone(); plus[i] += h;
            var minus = (double[])x.Clone(); minus[i] -= h;
            double numeric = (Reference(s, plus, rows).Zip(t, (a, b) => a * b).Sum() - Reference(s, minus, rows).Zip(t, (a, b) => a * b).Sum()) / (2 * h);
            Assert.True(Math.Abs(numeric - dx[i]) <= 1e-5 * (1 + Math.Abs(numeric)), $"dE/dx[{i}]: {dx[i]} vs {numeric}");
        }
        if (s.Kind == PoolKind.Max) Assert.True(dx.Count(v => v == 0) >= x.Length - rows * s.OutputSize); // only winners get gradient
    }

    [Theory]
    [InlineData(8, 4)]
    [InlineData(9, 6)]
    [InlineData(24, 24)]
    [InlineData(25, 3)]
    public void Two_by_two_max_pooling_keeps_the_first_winner_of_ties_and_a_leading_NaN(int width, int height)
    {
        // the 2×2, stride-2 case runs 4 windows at a time on vectors: its values and winners must be the window loop's
        var s = new PoolShape(PoolKind.Max, 3, height, width, 2, 2);
        const int rows = 2;
        var rng = new DistributedNN.Numerics.Rng(11);
        var x = Enumerable.Range(0, rows * s.InputSize).Select(_ => rng.NextInt(10) switch { 0 => float.NaN, 1 => -0f, var k => (float)(k % 3) }).ToArray();
        var pool = new Pool2D(s, rows);
        var z = new float[rows * s.OutputSize];
        pool.Forward(x, rows, z);
        var winners = new float[rows * s.InputSize];
        pool.Backward(Enumerable.Repeat(1f, z.Length).ToArray(), rows, winners);

        var expectedWinners = new float[winners.Length];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < s.Channels; c++)
                for (int oy = 0; oy < s.OutHeight; oy++)
                    for (int ox = 0; ox < s.OutWidth; ox++)
                    {
                        int first = r * s.InputSize + (c * height + 2 * oy) * width + 2 * ox, best = first;
                        foreach (int i in new[] { first, first + 1, first + width, first + width + 1 })
                            if (x[i] > x[best]) best = i;
                        Assert.Equal(BitConverter.SingleToInt32Bits(x[best]), BitConverter.SingleToInt32Bits(z[r * s.OutputSize + (c * s.OutHeight + oy) * s.OutWidth + ox]));
                        expectedWinners[best] += 1;
                    }
        Assert.Equal(expectedWinners, winners);
    }

    [Fact]
    public void A_window_larger_than_the_input_is_a_clear_error()
    {
        var e = Assert.Throws<UserErrorException>(() => new Pool2D(new PoolShape(PoolKind.Max, 1, 3, 3, 4, 1), 1));
        Assert.Equal("pooling: a 4×4 window does not fit a 3×3 input", e.Message);
        Assert.Throws<UserErrorException>(() => new Pool2D(new PoolShape(PoolKind.Average, 1, 3, 3, 2, 0), 1));
    }
}
