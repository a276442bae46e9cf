using DistributedNN.Model;
using DistributedNN.Numerics;
using DistributedNN.Training;

namespace DistributedNN.Tests.Engine;

/// <summary>
/// The element-wise kernels (bias + activation forward, activation derivative backward), the helpers of the kernel layer
/// (<see cref="Elementwise"/>) and the optimizer built on them, on every kernel path and on lengths that leave every kind
/// of tail: against a plain reference — and every path giving the same bits.
/// </summary>
[Collection(KernelPathCollection.Name)]
public sealed unsafe class ElementwiseKernelTests
{
    private static readonly KernelPath[] Paths = [KernelPath.Scalar, KernelPath.Vector256, KernelPath.Vector512];
    private static readonly int[] Lengths = [1, 7, 33, 257];
    private static readonly int[] HelperLengths = [0, 1, 7, 8, 15, 16, 17, 33, 257, 1023, 1024, 1041, 3000];
    private static readonly Activation[] ElementwiseActivations = [Activation.Identity, Activation.ReLU, Activation.Sigmoid, Activation.Tanh];

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
        foreach (var act in ElementwiseActivations)
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
    public void Tanh_is_within_a_few_ulp_of_the_exact_value_from_tiny_to_huge_and_keeps_signs_infinities_and_nan()
    {
        // magnitudes from 1e-30 to 40 on a log scale (both sides of the 1/4 where the algorithm changes), both signs
        var z = Enumerable.Range(0, 2000).Select(i => (i % 2 == 0 ? 1f : -1f) * MathF.Pow(10, -30 + 31.6f * (i / 2) / 1000f)).ToArray();
        z = [.. z, 0.25f, -0.25f, BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits(0.25f) - 1), 0f,
            float.PositiveInfinity, float.NegativeInfinity, float.NaN, float.MaxValue, float.Epsilon];
        var bias = new float[z.Length];
        float[]? first = null;
        foreach (var path in Paths)
        {
            var a = Forward(path, Activation.Tanh, z, bias);
            for (int j = 0; j < z.Length; j++)
            {
                double exact = Math.Tanh(z[j]);
                if (double.IsNaN(exact)) Assert.True(float.IsNaN(a[j]), $"{path}: tanh(NaN) = {a[j]}");
                else Assert.True(Math.Abs(a[j] - exact) <= 4 * 5.96e-8 * Math.Abs(exact) + float.Epsilon, // 4 units of 2⁻²⁴ relative
                    $"{path}: tanh({z[j]:R}) = {a[j]:R}, exact {exact:R}");
                if (z[j] != 0) Assert.Equal(z[j] < 0, a[j] < 0); // odd (a zero comes through z + bias as +0)
            }
            if (first is null) first = a;
            else Assert.Equal(first.Select(BitConverter.SingleToInt32Bits), a.Select(BitConverter.SingleToInt32Bits));
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

    private delegate void Binary(float* dst, float* x, float* y, long n);

    [Fact]
    public void Element_wise_operations_are_the_plain_float_operation_on_every_path()
    {
        (string Name, Binary Op, Func<float, float, float> Reference)[] ops =
        [
            ("add into", (d, x, y, n) => Elementwise.AddInto(d, y, n), (x, y) => x + y),
            ("multiply", Elementwise.Multiply, (x, y) => x * y),
            ("subtract", Elementwise.Subtract, (x, y) => x - y),
            ("max into", (d, x, y, n) => Elementwise.MaxInto(d, y, n), MathF.Max),
        ];
        foreach (var (name, op, reference) in ops)
        foreach (int n in HelperLengths)
        foreach (var path in Paths)
        {
            var x = Random(n, (ulong)n + 1);
            var y = Random(n, (ulong)n + 2);
            var dst = (float[])x.Clone(); // the into-forms read dst as x
            using (KernelPathScope.Use(path))
                fixed (float* pd = dst, px = x, py = y) op(pd, px, py, n);
            for (int i = 0; i < n; i++) Assert.True(reference(x[i], y[i]).Equals(dst[i]), $"{name} {path} n={n} [{i}]: {dst[i]} vs {reference(x[i], y[i])}");
        }
    }

    [Fact]
    public void Counts_outside_a_range_and_finiteness_agree_with_the_plain_loop_on_every_path()
    {
        foreach (int n in HelperLengths)
        {
            var x = Random(n, (ulong)n + 3, 1.2);
            if (n > 5) x[5] = float.NaN; // NaN lies neither below nor above
            long expected = x.Count(v => v < -0.9f || v > 0.9f);
            foreach (var path in Paths)
                using (KernelPathScope.Use(path))
                fixed (float* p = x)
                    Assert.Equal(expected, Elementwise.CountOutside(p, n, -0.9f, 0.9f));
        }
        foreach (int n in HelperLengths.Where(n => n > 0))
        foreach (int at in new[] { 0, n / 2, n - 1 })
        foreach (float bad in new[] { float.NaN, float.PositiveInfinity, float.NegativeInfinity })
        foreach (var path in Paths)
        {
            var x = Random(n, (ulong)n + 4, 1e30);
            using var _ = KernelPathScope.Use(path);
            Assert.True(Elementwise.AllFinite(x), $"{path} n={n}: finite values");
            x[at] = bad;
            Assert.False(Elementwise.AllFinite(x), $"{path} n={n}: {bad} at {at}");
        }
    }

    [Fact]
    public void Sums_of_squares_have_the_same_bits_on_every_path_and_match_a_double_sum()
    {
        foreach (int n in HelperLengths)
        {
            var x = Random(n, (ulong)n + 5);
            double reference = x.Sum(v => (double)v * v);
            var sums = Paths.Select(path =>
            {
                using var _ = KernelPathScope.Use(path);
                return Elementwise.SumOfSquares(x);
            }).ToArray();
            Assert.All(sums, s => Assert.Equal(BitConverter.DoubleToInt64Bits(sums[0]), BitConverter.DoubleToInt64Bits(s)));
            // float lanes over blocks of 1024: ~1e-7 relative per addition, a few dozen deep
            Assert.True(Math.Abs(sums[0] - reference) <= 1e-5 * reference, $"n={n}: {sums[0]} vs {reference}");
        }
    }

    [Theory]
    [InlineData(OptimizerKind.Sgd)]
    [InlineData(OptimizerKind.Nesterov)]
    [InlineData(OptimizerKind.AdamW)]
    public void An_optimizer_step_has_the_same_weights_and_update_ratios_on_every_path(OptimizerKind kind)
    {
        // a layer of 1,066 parameters: a whole block, then two groups of 16 and ten single floats
        var spec = NetworkSpec.FromSizes([40, 26, 3], Activation.ReLU, Activation.Softmax, LossKind.CrossEntropy);
        var runs = Paths.Select(path =>
        {
            using var _ = KernelPathScope.Use(path);
            var w = Random(spec.ParameterCount, 6, 0.5);
            var optimizer = new Optimizer(new OptimizerSettings(kind, 0.01f, WeightDecay: 0.01f), w.Length);
            var ratios = new double[spec.Layers.Count];
            for (int step = 0; step < 3; step++) optimizer.Step(w, Random(w.Length, 7 + (ulong)step), 1f / 8, spec, ratios);
            return (W: w, Ratios: ratios);
        }).ToArray();
        foreach (var run in runs.Skip(1))
        {
            Assert.Equal(runs[0].W, run.W);
            Assert.Equal(runs[0].Ratios, run.Ratios);
        }
    }
}
