using DistributedNN.Model.Layers;
using DistributedNN.Numerics;

namespace DistributedNN.Tests.Engine;

/// <summary>
/// Batch normalisation's loops (four channels' sums side by side, element-wise steps on vectors of doubles) against the
/// one-channel, one-element loops they replace, written out here: the same bits, on every path, with ragged lengths.
/// </summary>
[Collection(KernelPathCollection.Name)]
public sealed unsafe class BatchNormKernelsTests
{
    private const int Rows = 3, Channels = 4, Area = 37;
    private const long Stride = Channels * Area + 5; // a row holds more than the four channels

    private static float[] Random(int n, int seed)
    {
        var rng = new Rng((ulong)seed);
        return Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 4 - 1)).ToArray();
    }

    [Theory]
    [InlineData(KernelPath.Auto, 4)]
    [InlineData(KernelPath.Vector256, 4)]
    [InlineData(KernelPath.Scalar, 4)]
    [InlineData(KernelPath.Auto, 3)]
    [InlineData(KernelPath.Auto, 1)]
    public void Sums_of_a_group_of_channels_are_each_channel_s_own_chain(KernelPath path, int group)
    {
        using var _ = KernelPathScope.Use(path);
        var x = Random((int)(Rows * Stride), 1);
        var delta = Random(x.Length, 2);
        var normalized = Random(x.Length, 3);
        var gamma = Random(Channels, 4);
        // a smaller group must leave the slots past it alone
        double* sums = stackalloc double[4], means = stackalloc double[4], squares = stackalloc double[4], g = stackalloc double[4], gx = stackalloc double[4];
        float* scaled = stackalloc float[4], shifted = stackalloc float[4];
        for (int j = 0; j < 4; j++) (sums[j], squares[j], g[j], gx[j], scaled[j], shifted[j]) = (-7, -7, -7, -7, -7, -7);
        fixed (float* px = x, pd = delta, pn = normalized, pg = gamma)
        {
            BatchNormKernels.Sums(px, Stride, Area, 1, Rows, 0, group, sums);
            for (int c = 0; c < 4; c++) means[c] = sums[c] / 7;
            BatchNormKernels.Squares(px, Stride, Area, 1, Rows, 0, group, means, squares);
            BatchNormKernels.GradientSums(pd, pn, Stride, Area, 1, Rows, 0, group, pg, g, gx);
            BatchNormKernels.DeltaSums(pd, pn, Stride, Area, 1, Rows, 0, group, scaled, shifted);
        }
        for (int c = group; c < 4; c++) Assert.Equal([-7, -7, -7, -7, -7f, -7f], new[] { sums[c], squares[c], g[c], gx[c], scaled[c], shifted[c] });
        for (int c = 0; c < group; c++)
        {
            double sum = 0, square = 0, sumG = 0, sumGx = 0;
            float sc = 0, sh = 0;
            for (int r = 1; r < Rows; r++)
                for (int p = 0; p < Area; p++)
                {
                    long i = r * Stride + c * Area + p;
                    sum += x[i];
                    double d = x[i] - means[c];
                    square += d * d;
                    double v = (double)delta[i] * gamma[c];
                    sumG += v;
                    sumGx += v * normalized[i];
                    sc += delta[i] * normalized[i];
                    sh += delta[i];
                }
            Assert.Equal(sum, sums[c]);
            Assert.Equal(square, squares[c]);
            Assert.Equal(sumG, g[c]);
            Assert.Equal(sumGx, gx[c]);
            Assert.Equal(sc, scaled[c]);
            Assert.Equal(sh, shifted[c]);
        }
    }

    [Theory]
    [InlineData(KernelPath.Auto)]
    [InlineData(KernelPath.Vector256)]
    [InlineData(KernelPath.Scalar)]
    public void Element_wise_steps_round_as_one_value_at_a_time(KernelPath path)
    {
        using var _ = KernelPathScope.Use(path);
        const int n = 61;
        var x = Random(n, 5);
        var delta = Random(n, 6);
        var normalized = new float[n];
        var output = new float[n];
        var dx = new float[n];
        const double mean = 0.37, inverse = 1.9, meanG = -0.021, meanGx = 0.13;
        const float gamma = 0.8f, beta = -0.3f;
        fixed (float* px = x, pd = delta, pn = normalized, po = output, pdx = dx)
        {
            BatchNormKernels.Normalize(px, pn, po, n, mean, inverse, gamma, beta);
            BatchNormKernels.InputGradient(pd, pn, pdx, n, gamma, meanG, meanGx, inverse);
        }
        for (int i = 0; i < n; i++)
        {
            float xh = (float)((x[i] - mean) * inverse);
            Assert.Equal(xh, normalized[i]);
            Assert.Equal(gamma * xh + beta, output[i]);
            Assert.Equal((float)(inverse * ((double)delta[i] * (double)gamma - meanG - xh * meanGx)), dx[i]);
        }
    }
}
