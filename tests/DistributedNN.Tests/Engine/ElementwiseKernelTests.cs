using DistributedNN.Model;
using DistributedNN.Numerics;

namespace DistributedNN.Tests.Engine;

/// <summary>
/// The element-wise kernels (bias + activation forward, activation derivative backward) on every kernel path,
/// on odd row lengths, against a plain double-precision reference — and every path giving the same bits.
/// </summary>
[Collection(KernelPathCollection.Name)]
public sealed unsafe class ElementwiseKernelTests
{
    private static readonly KernelPath[] Paths = [KernelPath.Scalar, KernelPath.Vector256, KernelPath.Vector512];
    private static readonly int[] Lengths = [1, 7, 33, 257];
    private static readonly Activation[] Elementwise = [Activation.Identity, Activation.ReLU, Activation.Sigmoid, Activation.Tanh];

    private static float[] Random(int n, ulong seed, double scale = 4)
    {
        var rng = new Rng(seed);
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float)((rng.NextDouble() * 2 - 1) * scale);
        return x;
    }

    private static double Act(Activation act, double z) => act switch
    {
        Activation.Identity => z,
        Activation.ReLU => Math.Max(z, 0),
        Activation.Sigmoid => 1 / (1 + Math.Exp(-z)),
        Activation.Tanh => Math.Tanh(z),
        _ => throw new ArgumentOutOfRangeException(nameof(act)),
    };

    private static double Derivative(Activation act, double a) => act switch
    {
        Activation.Identity => 1,
        Activation.ReLU => a > 0 ? 1 : 0,
        Activation.Sigmoid => a * (1 - a),
        Activation.Tanh => 1 - a * a,
        _ => throw new ArgumentOutOfRangeException(nameof(act)),
    };

    private static float[] Forward(KernelPath path, Activation act, float[] z, float[] bias)
    {
        using var _ = KernelPathScope.Use(path);
        var row = (float[])z.Clone();
        fixed (float* r = row, b = bias) Activations.ForwardRow(act, r, b, row.Length);
        return row;
    }

    private static float[] Backward(KernelPath path, Activation act, float[] a, float[] g)
    {
        using var _ = KernelPathScope.Use(path);
        var row = (float[])g.Clone();
        fixed (float* pa = a, pg = row) Activations.BackwardRow(act, pa, pg, row.Length);
        return row;
    }

    [Fact]
    public void Every_path_matches_the_reference_and_the_other_paths_on_odd_lengths()
    {
        foreach (var act in Elementwise)
        foreach (int n in Lengths)
        {
            var z = Random(n, (ulong)n); var bias = Random(n, (ulong)n + 100, 1);
            var g = Random(n, (ulong)n + 200, 1);
            float[]? firstForward = null, firstBackward = null;
            foreach (var path in Paths)
            {
                var a = Forward(path, act, z, bias);
                var d = Backward(path, act, a, g);
                for (int j = 0; j < n; j++)
                {
                    double expected = Act(act, (double)z[j] + bias[j]);
                    Assert.True(Math.Abs(a[j] - expected) <= 1e-6 + 1e-6 * Math.Abs(expected), $"{act} {path} n={n} forward [{j}]: {a[j]} vs {expected}");
                    double expectedDelta = g[j] * Derivative(act, a[j]);
                    Assert.True(Math.Abs(d[j] - expectedDelta) <= 1e-6, $"{act} {path} n={n} backward [{j}]: {d[j]} vs {expectedDelta}");
                }
                // the same bits on every path: a worker's result never depends on its CPU's vector width
                if (firstForward is null) (firstForward, firstBackward) = (a, d);
                else
                {
                    Assert.True(firstForward.AsSpan().SequenceEqual(a), $"{act} n={n}: {path} forward differs from {Paths[0]}");
                    Assert.True(firstBackward!.AsSpan().SequenceEqual(d), $"{act} n={n}: {path} backward differs from {Paths[0]}");
                }
            }
        }
    }

    [Fact]
    public void Softmax_rows_sum_to_one_and_match_the_reference_on_every_path()
    {
        foreach (var path in Paths)
        foreach (int n in Lengths)
        {
            var z = Random(n, (ulong)n + 7, 20); var bias = Random(n, (ulong)n + 8, 1);
            var s = Forward(path, Activation.Softmax, z, bias);
            double max = Enumerable.Range(0, n).Max(j => (double)z[j] + bias[j]);
            double sum = Enumerable.Range(0, n).Sum(j => Math.Exp(z[j] + bias[j] - max));
            for (int j = 0; j < n; j++) Assert.Equal(Math.Exp(z[j] + bias[j] - max) / sum, s[j], 1e-6);
            Assert.Equal(1.0, s.Sum(v => (double)v), 1e-5);
        }
    }
}
