using DistributedNN.Numerics;
using DistributedNN.Model;

namespace DistributedNN.Tests.Engine;

public sealed class GradientCheckTests
{
    public static TheoryData<Activation, Activation, LossKind> Combinations()
    {
        var data = new TheoryData<Activation, Activation, LossKind>();
        Activation[] hidden = [Activation.Sigmoid, Activation.ReLU, Activation.Tanh, Activation.Identity, Activation.LeakyReLU, Activation.ELU, Activation.GELU, Activation.SiLU];
        (Activation, LossKind)[] outputs =
        [
            (Activation.Softmax, LossKind.CrossEntropy),
            (Activation.Softmax, LossKind.SumSquaredError),
            (Activation.Sigmoid, LossKind.SumSquaredError),
            (Activation.Identity, LossKind.MeanSquaredError),
            (Activation.Tanh, LossKind.MeanSquaredError),
            (Activation.ReLU, LossKind.SumSquaredError),
            (Activation.Softmax, LossKind.MeanSquaredError),
        ];
        foreach (var h in hidden)
            foreach (var (o, loss) in outputs)
                data.Add(h, o, loss);
        // the smooth ones as outputs too (regression)
        foreach (var o in new[] { Activation.LeakyReLU, Activation.ELU, Activation.GELU, Activation.SiLU })
            data.Add(Activation.Tanh, o, LossKind.MeanSquaredError);
        return data;
    }

    [Theory]
    [MemberData(nameof(Combinations))]
    public void Backprop_matches_central_finite_differences(Activation hidden, Activation output, LossKind loss)
    {
        // 2 or 3 hidden layers, odd widths, several samples, every weight and bias checked
        int depth = 2 + (int)hidden % 2;
        var sizes = new List<int> { 5 };
        for (int i = 0; i < depth; i++) sizes.Add(4 + 3 * i);
        sizes.Add(3);
        var spec = NetworkSpec.FromSizes(sizes, hidden, output, loss);
        var rng = new Rng(42 + (ulong)hidden * 7 + (ulong)output * 3 + (ulong)loss);
        var parameters = new float[spec.ParameterCount];
        // small non-zero biases too, so that their gradients are exercised away from zero
        for (int i = 0; i < parameters.Length; i++) parameters[i] = (float)(rng.NextGaussian() * 0.6);
        const int rows = 6;
        var input = new float[rows * spec.InputSize];
        for (int i = 0; i < input.Length; i++) input[i] = (float)(rng.NextDouble() * 2 - 1);
        var labels = Enumerable.Range(0, rows).Select(_ => rng.NextInt(spec.OutputSize)).ToArray();

        var gradient = new float[spec.ParameterCount];
        new Backprop(spec, rows).Gradient(parameters, input, labels, rows, gradient);

        var w = parameters.Select(x => (double)x).ToArray();
        const double h = 1e-6;
        for (int i = 0; i < w.Length; i++)
        {
            double saved = w[i];
            w[i] = saved + h; double up = ReferenceNetwork.Loss(spec, w, input, labels, rows);
            w[i] = saved - h; double down = ReferenceNetwork.Loss(spec, w, input, labels, rows);
            w[i] = saved;
            double numeric = (up - down) / (2 * h);
            // The engine runs in float (relative error ~1e-6 per operation, a few hundred operations
            // deep here); the reference in double. 2e-4 relative, 2e-5 absolute leaves room for float
            // rounding and none for a wrong derivative (those are off by factors, not by 1e-4).
            double tolerance = 2e-5 + 2e-4 * System.Math.Abs(numeric);
            Assert.True(System.Math.Abs(gradient[i] - numeric) <= tolerance,
                $"{spec}: parameter {i}: backprop {gradient[i]:G9}, finite differences {numeric:G9}");
        }
    }

    [Fact]
    public void Shard_gradients_summed_in_order_equal_the_sharded_backward_pass_bit_for_bit()
    {
        var spec = NetworkSpec.FromSizes([11, 9, 7, 4], Activation.ReLU, Activation.Softmax, LossKind.CrossEntropy);
        var rng = new Rng(3);
        var p = new float[spec.ParameterCount];
        Initializer.Initialize(spec, p, InitScheme.Auto, 5);
        const int rows = 23;
        var x = new float[rows * spec.InputSize];
        for (int i = 0; i < x.Length; i++) x[i] = (float)rng.NextDouble();
        var labels = Enumerable.Range(0, rows).Select(_ => rng.NextInt(4)).ToArray();
        int[] bounds = [0, 5, 11, 17, 23];

        var sharded = new float[spec.ParameterCount];
        var bp = new Backprop(spec, rows);
        var stats = bp.Gradient(p, x, labels, rows, bounds, sharded);

        var summed = new float[spec.ParameterCount];
        double loss = 0;
        for (int s = 0; s + 1 < bounds.Length; s++)
        {
            int n = bounds[s + 1] - bounds[s];
            var part = new float[spec.ParameterCount];
            var shardStats = new Backprop(spec, n).Gradient(p, x.AsSpan(bounds[s] * 11, n * 11), labels.AsSpan(bounds[s], n), n, part);
            loss += shardStats.LossSum;
            for (int i = 0; i < part.Length; i++) summed[i] = s == 0 ? part[i] : summed[i] + part[i];
        }
        Assert.Equal(summed, sharded);
        Assert.Equal(loss, stats.LossSum);
        Assert.Equal(rows, stats.Count);
    }
}
