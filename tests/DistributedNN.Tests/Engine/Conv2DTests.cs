using DistributedNN.Numerics;
using DistributedNN.Model;

namespace DistributedNN.Tests.Engine;

/// <summary>
/// The convolution against a direct double-precision reference (the sum over the kernel window, written out), whose
/// own gradient is checked by central finite differences: stride 1 and 2, with and without padding, odd shapes.
/// </summary>
public sealed class Conv2DTests
{
    public static TheoryData<ConvShape> Shapes() => new()
    {
        new ConvShape(Channels: 1, Height: 5, Width: 5, Filters: 1, KernelHeight: 3, KernelWidth: 3),
        new ConvShape(3, 7, 5, 4, 3, 3, Stride: 1, Padding: 1),
        new ConvShape(2, 9, 8, 3, 3, 2, Stride: 2, Padding: 0),
        new ConvShape(3, 7, 7, 5, 5, 5, Stride: 2, Padding: 2),
        new ConvShape(1, 1, 33, 2, 1, 7, Stride: 1, Padding: 0),
        new ConvShape(1, 4, 4, 2, 6, 6, Stride: 1, Padding: 1), // kernel columns that lie wholly in the padding
        new ConvShape(2, 8, 7, 3, 4, 4, Stride: 3, Padding: 2),
    };

    internal static double[] Random(int n, int seed)
    {
        var rng = new DistributedNN.Numerics.Rng((ulong)seed);
        return Enumerable.Range(0, n).Select(_ => rng.NextDouble() * 2 - 1).ToArray();
    }

    /// <summary>z[r, f, oy, ox] = b[f] + Σ_c,ky,kx w[f, c, ky, kx] · x[r, c, oy·S + ky − P, ox·S + kx − P].</summary>
    internal static double[] Reference(ConvShape s, double[] x, int rows, double[] p)
    {
        var z = new double[rows * s.OutputSize];
        for (int r = 0; r < rows; r++)
            for (int f = 0; f < s.Filters; f++)
                for (int oy = 0; oy < s.OutHeight; oy++)
                    for (int ox = 0; ox < s.OutWidth; ox++)
                    {
                        double sum = p[s.Filters * s.PatchSize + f];
                        for (int c = 0; c < s.Channels; c++)
                            for (int ky = 0; ky < s.KernelHeight; ky++)
                                for (int kx = 0; kx < s.KernelWidth; kx++)
                                {
                                    int iy = oy * s.Stride + ky - s.Padding, ix = ox * s.Stride + kx - s.Padding;
                                    if (iy < 0 || iy >= s.Height || ix < 0 || ix >= s.Width) continue;
                                    sum += p[((f * s.Channels + c) * s.KernelHeight + ky) * s.KernelWidth + kx] * x[r * s.InputSize + (c * s.Height + iy) * s.Width + ix];
                                }
                        z[r * s.OutputSize + (f * s.OutHeight + oy) * s.OutWidth + ox] = sum;
                    }
        return z;
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Forward_matches_the_direct_sum(ConvShape s)
    {
        const int rows = 3;
        var x = Random(rows * s.InputSize, 1);
        var p = Random(s.ParameterCount, 2);
        var output = new float[rows * s.OutputSize];
        new Conv2D(s).Forward(x.Select(v => (float)v).ToArray(), rows, p.Select(v => (float)v).ToArray(), output);
        var expected = Reference(s, x, rows, p);
        for (int i = 0; i < output.Length; i++) Assert.Equal(expected[i], output[i], 1e-4);
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Backward_matches_finite_differences_of_the_direct_sum(ConvShape s)
    {
        // E = Σ t ⊙ z for fixed random t: dE/dz = t, so δ = t, and every dE/dθ is a finite difference of the reference
        const int rows = 2;
        var x = Random(rows * s.InputSize, 3);
        var p = Random(s.ParameterCount, 4);
        var t = Random(rows * s.OutputSize, 5);
        double Loss(double[] xs, double[] ps) => Reference(s, xs, rows, ps).Zip(t, (a, b) => a * b).Sum();

        var gradient = new float[s.ParameterCount];
        var inputGradient = new float[rows * s.InputSize];
        new Conv2D(s).Backward(x.Select(v => (float)v).ToArray(), t.Select(v => (float)v).ToArray(), rows, p.Select(v => (float)v).ToArray(), gradient, inputGradient);

        const double h = 1e-5;
        for (int i = 0; i < p.Length; i++)
        {
            var plus = (double[])p.Clone(); plus[i] += h;
            var minus = (double[])p.Clone(); minus[i] -= h;
            double numeric = (Loss(x, plus) - Loss(x, minus)) / (2 * h);
            Assert.True(Math.Abs(numeric - gradient[i]) <= 1e-4 * (1 + Math.Abs(numeric)), $"dE/dθ[{i}]: {gradient[i]} vs {numeric}");
        }
        for (int i = 0; i < x.Length; i++)
        {
            var plus = (double[])x.Clone(); plus[i] += h;
            var minus = (double[])x.Clone(); minus[i] -= h;
            double numeric = (Loss(plus, p) - Loss(minus, p)) / (2 * h);
            Assert.True(Math.Abs(numeric - inputGradient[i]) <= 1e-4 * (1 + Math.Abs(numeric)), $"dE/dx[{i}]: {inputGradient[i]} vs {numeric}");
        }
        Assert.Contains(gradient, g => g != 0);
    }

    [Fact]
    public void Many_samples_in_several_chunks_give_each_sample_s_result_and_the_same_bits_on_threads()
    {
        // 37 samples: two full chunks and a partial one; the dW chain runs across all of them
        var s = new ConvShape(3, 9, 8, 5, 3, 3, 2, 1);
        int rows = 2 * Conv2D.Chunk + 5;
        var x = Random(rows * s.InputSize, 6).Select(v => (float)v).ToArray();
        var p = Random(s.ParameterCount, 7).Select(v => (float)v).ToArray();
        var t = Random(rows * s.OutputSize, 8).Select(v => (float)v).ToArray();
        var conv = new Conv2D(s);
        var z = new float[rows * s.OutputSize];
        conv.Forward(x, rows, p, z);
        var g = new float[s.ParameterCount];
        var dx = new float[rows * s.InputSize];
        conv.Backward(x, t, rows, p, g, dx);

        var expected = Reference(s, x.Select(v => (double)v).ToArray(), rows, p.Select(v => (double)v).ToArray());
        for (int i = 0; i < z.Length; i++) Assert.Equal(expected[i], z[i], 1e-4);
        // per sample alone: the same outputs and input gradients bit for bit, and dW their sum
        var sum = new double[s.ParameterCount];
        for (int r = 0; r < rows; r++)
        {
            var zr = new float[s.OutputSize];
            conv.Forward(x.AsSpan(r * s.InputSize, s.InputSize), 1, p, zr);
            Assert.Equal(z.AsSpan(r * s.OutputSize, s.OutputSize).ToArray(), zr);
            var gr = new float[s.ParameterCount];
            var dxr = new float[s.InputSize];
            conv.Backward(x.AsSpan(r * s.InputSize, s.InputSize), t.AsSpan(r * s.OutputSize, s.OutputSize), 1, p, gr, dxr);
            Assert.Equal(dx.AsSpan(r * s.InputSize, s.InputSize).ToArray(), dxr);
            for (int i = 0; i < sum.Length; i++) sum[i] += gr[i];
        }
        for (int i = 0; i < g.Length; i++) Assert.Equal(sum[i], g[i], 1e-4);

        using var team = new GemmTeam(2);
        var threaded = new Conv2D(s) { Team = team };
        var z2 = new float[z.Length];
        var g2 = new float[g.Length];
        var dx2 = new float[dx.Length];
        threaded.Forward(x, rows, p, z2);
        threaded.Backward(x, t, rows, p, g2, dx2);
        Assert.Equal(z, z2);
        Assert.Equal(g, g2);
        Assert.Equal(dx, dx2);
    }

    [Fact]
    public void A_kernel_that_does_not_fit_is_a_clear_error()
    {
        var e = Assert.Throws<UserErrorException>(() => new Conv2D(new ConvShape(1, 4, 4, 2, 5, 5)));
        Assert.Equal("convolution: a 5×5 kernel does not fit a 4×4 input with padding 0", e.Message);
        e = Assert.Throws<UserErrorException>(() => new Conv2D(new ConvShape(1, 4, 4, 2, 3, 3, Stride: 0)));
        Assert.Equal("convolution 1×4×4, 2 filters of 3×3, stride 0, padding 0: sizes, kernel and stride must be positive and padding zero or more", e.Message);
        Assert.Equal(32 * 28 * 28, new ConvShape(1, 28, 28, 32, 5, 5, 1, 2).OutputSize); // "same" padding keeps 28×28
    }
}
