using DistributedNN.Model;
using DistributedNN.Numerics;

namespace DistributedNN.Tests.Engine;

/// <summary>
/// Networks that are graphs: every parameter's gradient against central finite differences of an independent
/// double-precision forward pass (one node feeding several paths that meet again; a residual MLP; a small CNN with
/// both poolings, strides, padding and dropout), and shard sums against shards computed alone.
/// </summary>
public sealed class GraphNetworkTests
{
    private const string Branching = """
        { "input": 6, "loss": "ce", "layers": [
            { "type": "dense", "units": 5, "activation": "tanh", "name": "h" },
            { "type": "dense", "units": 4, "activation": "sigmoid", "name": "a", "from": "h" },
            { "type": "dense", "units": 4, "activation": "tanh", "name": "b", "from": "h" },
            { "type": "add", "from": ["a", "b"], "name": "sum" },
            { "type": "concat", "from": ["sum", "h", "input"], "name": "joined" },
            { "type": "dense", "units": 3 } ] }
        """;

    private const string ResidualMlp = """
        { "input": 7, "layers": [
            { "type": "dense", "units": 6, "name": "stem" },
            { "type": "dense", "units": 6 },
            { "type": "dense", "units": 6, "activation": "identity", "name": "r1" },
            { "type": "add", "from": ["stem", "r1"], "activation": "relu", "name": "block1" },
            { "type": "dense", "units": 6 },
            { "type": "dense", "units": 6, "activation": "identity", "name": "r2" },
            { "type": "add", "from": ["block1", "r2"], "activation": "relu" },
            { "type": "dense", "units": 3 } ] }
        """;

    private const string SmallCnn = """
        { "input": [2, 7, 6], "layers": [
            { "type": "conv", "filters": 3, "kernel": 3, "padding": 1, "activation": "tanh" },
            { "type": "maxpool", "size": 2 },
            { "type": "conv", "filters": 4, "kernel": 2, "stride": 2, "padding": 1, "activation": "relu" },
            { "type": "avgpool", "size": 2, "stride": 1 },
            { "type": "flatten" },
            { "type": "dropout", "rate": 0.3 },
            { "type": "dense", "units": 4 } ] }
        """;

    private const string Norms = """
        { "input": [2, 4, 3], "layers": [
            { "type": "conv", "filters": 3, "kernel": 3, "padding": 1, "activation": "identity", "name": "c" },
            { "type": "layernorm", "activation": "gelu", "name": "n1" },
            { "type": "conv", "filters": 3, "kernel": 3, "padding": 1, "activation": "silu" },
            { "type": "add", "from": ["n1", "layer3"] },
            { "type": "globalavgpool" },
            { "type": "dense", "units": 5, "activation": "identity" },
            { "type": "layernorm", "activation": "elu" },
            { "type": "dense", "units": 3 } ] }
        """;

    private const string BatchNorms = """
        { "input": [2, 5, 4], "layers": [
            { "type": "conv", "filters": 3, "kernel": 3, "padding": 1, "activation": "identity", "name": "c" },
            { "type": "batchnorm", "activation": "relu", "name": "n" },
            { "type": "conv", "filters": 3, "kernel": 3, "padding": 1, "activation": "identity" },
            { "type": "batchnorm" },
            { "type": "add", "from": ["n", "layer4"], "activation": "relu" },
            { "type": "globalavgpool" },
            { "type": "dense", "units": 6, "activation": "identity" },
            { "type": "batchnorm", "activation": "gelu" },
            { "type": "dense", "units": 3 } ] }
        """;

    /// <summary>Every network above and one with batch normalisation, whose statistics are per shard (no per-sample reference).</summary>
    public static TheoryData<string, string> ShardedNetworks()
    {
        var data = new TheoryData<string, string>();
        foreach (var row in Networks()) data.Add((string)row[0], (string)row[1]);
        data.Add("batch normalisation", BatchNorms);
        return data;
    }

    public static TheoryData<string, string> Networks() => new()
    {
        { "norms and global pooling", Norms },
        { "branching", Branching },
        { "residual MLP", ResidualMlp },
        { "small CNN", SmallCnn },
    };

    [Theory]
    [MemberData(nameof(Networks))]
    public void Every_parameter_gradient_matches_central_finite_differences(string name, string json)
    {
        var spec = ModelSpec.Parse(json, name);
        Assert.False(spec.IsPlainStack);
        var rng = new Rng(11);
        var parameters = new float[spec.ParameterCount];
        for (int i = 0; i < parameters.Length; i++) parameters[i] = (float)(rng.NextGaussian() * 0.5);
        const int rows = 5;
        var input = new float[rows * spec.InputSize];
        for (int i = 0; i < input.Length; i++) input[i] = (float)(rng.NextDouble() * 2 - 1);
        var labels = Enumerable.Range(0, rows).Select(_ => rng.NextInt(spec.OutputSize)).ToArray();
        var key = new DropoutKey(Seed: 9, Epoch: 2, Step: 5);

        var gradient = new float[spec.ParameterCount];
        var stats = new Backprop(spec, rows).Gradient(parameters, input, labels, rows, gradient, dropout: key);

        var w = parameters.Select(x => (double)x).ToArray();
        var masks = ReferenceGraph.Masks(spec, rows, key);
        Assert.Equal(ReferenceGraph.Loss(spec, w, input, labels, rows, masks), stats.LossSum, 1e-4);
        const double h = 1e-6;
        for (int i = 0; i < w.Length; i++)
        {
            double saved = w[i];
            w[i] = saved + h; double up = ReferenceGraph.Loss(spec, w, input, labels, rows, masks);
            w[i] = saved - h; double down = ReferenceGraph.Loss(spec, w, input, labels, rows, masks);
            w[i] = saved;
            double numeric = (up - down) / (2 * h);
            double tolerance = 2e-5 + 2e-4 * Math.Abs(numeric);
            Assert.True(Math.Abs(gradient[i] - numeric) <= tolerance,
                $"{name}: parameter {i}: backprop {gradient[i]:G9}, finite differences {numeric:G9}");
        }
    }

    /// <summary>A network, weights ~ N(0, 0.4²), inputs in [0, 1) and labels for <paramref name="rows"/> samples, from one seed.</summary>
    private static (NetworkSpec Spec, float[] P, float[] X, int[] Labels) Problem(string json, string name, ulong seed, int rows)
    {
        var spec = ModelSpec.Parse(json, name);
        var rng = new Rng(seed);
        var p = Enumerable.Range(0, spec.ParameterCount).Select(_ => (float)(rng.NextGaussian() * 0.4)).ToArray();
        var x = Enumerable.Range(0, rows * spec.InputSize).Select(_ => (float)rng.NextDouble()).ToArray();
        var labels = Enumerable.Range(0, rows).Select(_ => rng.NextInt(spec.OutputSize)).ToArray();
        return (spec, p, x, labels);
    }

    [Theory]
    [MemberData(nameof(ShardedNetworks))]
    public void Shards_summed_in_order_equal_shards_computed_alone_bit_for_bit(string name, string json)
    {
        const int rows = 13;
        var (spec, p, x, labels) = Problem(json, name, seed: 3, rows);
        int[] bounds = [0, 4, 4, 9, 13];
        var key = new DropoutKey(1, 0, 7);

        var together = new float[spec.ParameterCount];
        var stats = new Backprop(spec, rows).Gradient(p, x, labels, rows, bounds, together, dropout: key);

        var alone = new Backprop(spec, 5);
        var sum = new float[spec.ParameterCount];
        var shard = new float[spec.ParameterCount];
        double loss = 0;
        for (int s = 0; s + 1 < bounds.Length; s++)
        {
            int start = bounds[s], n = bounds[s + 1] - start;
            loss += alone.Gradient(p, x.AsSpan(start * spec.InputSize, n * spec.InputSize), labels.AsSpan(start, n), n, shard,
                dropout: key with { FirstShard = s }).LossSum;
            for (int i = 0; i < sum.Length; i++) sum[i] = s == 0 ? shard[i] : sum[i] + shard[i];
        }
        Assert.Equal(sum, together);
        Assert.Equal(loss, stats.LossSum);
    }

    [Theory]
    [MemberData(nameof(ShardedNetworks))]
    public void Shards_side_by_side_on_a_team_s_threads_give_the_bits_of_one_thread(string name, string json)
    {
        const int rows = 13;
        var (spec, p, x, labels) = Problem(json, name, seed: 5, rows);
        int[] bounds = [0, 4, 4, 9, 11, 13];
        var key = new DropoutKey(3, 1, 2);
        var one = new float[spec.ParameterCount];
        var net = new Backprop(spec, rows);
        var stats = net.Gradient(p, x, labels, rows, bounds, one, dropout: key);
        var activity = net.Activity.ToArray();
        foreach (int threads in new[] { 2, 3 })
        {
            using var team = new GemmTeam(threads);
            net.Team = team;
            var lanes = new float[spec.ParameterCount];
            Assert.Equal(stats, net.Gradient(p, x, labels, rows, bounds, lanes, dropout: key));
            Assert.Equal(one, lanes);
            Assert.Equal(activity, net.Activity.ToArray());
            net.Team = null;
        }
    }

    [Fact]
    public void Dropout_masks_depend_on_the_step_and_evaluation_drops_nothing()
    {
        var spec = ModelSpec.Parse(SmallCnn, "cnn");
        var rng = new Rng(8);
        var p = Enumerable.Range(0, spec.ParameterCount).Select(_ => (float)(rng.NextGaussian() * 0.4)).ToArray();
        var x = Enumerable.Range(0, 4 * spec.InputSize).Select(_ => (float)rng.NextDouble()).ToArray();
        int[] labels = [0, 1, 2, 3];
        var net = new Backprop(spec, 4);
        float[] Grad(DropoutKey key)
        {
            var g = new float[spec.ParameterCount];
            net.Gradient(p, x, labels, 4, g, dropout: key);
            return g;
        }
        Assert.Equal(Grad(new DropoutKey(1, 0, 3)), Grad(new DropoutKey(1, 0, 3)));
        Assert.NotEqual(Grad(new DropoutKey(1, 0, 3)), Grad(new DropoutKey(1, 0, 4)));
        Assert.NotEqual(Grad(new DropoutKey(1, 0, 3)), Grad(new DropoutKey(2, 0, 3)));

        var output = net.Forward(p, x, 4).ToArray();
        var noMasks = ReferenceGraph.Masks(spec, 4, null);
        var expected = ReferenceGraph.Outputs(spec, p.Select(v => (double)v).ToArray(), x, 4, noMasks);
        for (int i = 0; i < output.Length; i++) Assert.Equal(expected[i], output[i], 1e-5);
    }
}

/// <summary>A naive double-precision forward pass of any graph network, straight from each layer's definition.</summary>
internal static class ReferenceGraph
{
    /// <summary>The dropout multipliers a training pass with <paramref name="key"/> draws (null: inference, all 1).</summary>
    public static double[]?[] Masks(NetworkSpec spec, int rows, DropoutKey? key)
    {
        var rng = key?.For(0);
        return spec.Layers.Select(l =>
        {
            if (l.Kind != LayerKind.Dropout) return null;
            var m = new double[rows * l.Outputs];
            for (int i = 0; i < m.Length; i++) m[i] = rng is null || l.Rate == 0 ? 1 : rng.NextDouble() < l.Rate ? 0 : 1f / (1f - l.Rate);
            return m;
        }).ToArray();
    }

    public static double Loss(NetworkSpec spec, double[] w, float[] input, int[] labels, int rows, double[]?[] masks)
    {
        double total = 0;
        for (int r = 0; r < rows; r++)
        {
            var (z, a) = Sample(spec, w, input, r, masks);
            total += ReferenceNetwork.SampleLoss(spec.Loss, z, a, labels[r]);
        }
        return total;
    }

    public static double[] Outputs(NetworkSpec spec, double[] w, float[] input, int rows, double[]?[] masks) =>
        Enumerable.Range(0, rows).SelectMany(r => Sample(spec, w, input, r, masks).A).ToArray();

    private static double[] LayerNorm(double[] x, double[] p)
    {
        int n = x.Length;
        double mean = x.Average(), variance = x.Sum(v => (v - mean) * (v - mean)) / n, deviation = Math.Sqrt(variance + 1e-5);
        return Enumerable.Range(0, n).Select(j => p[j] * (x[j] - mean) / deviation + p[n + j]).ToArray();
    }

    private static (double[] Z, double[] A) Sample(NetworkSpec spec, double[] w, float[] input, int r, double[]?[] masks)
    {
        var x = Enumerable.Range(0, spec.InputSize).Select(i => (double)input[r * spec.InputSize + i]).ToArray();
        var outs = new double[spec.Layers.Count][];
        double[] z = x;
        for (int l = 0; l < spec.Layers.Count; l++)
        {
            var layer = spec.Layers[l];
            var src = NetworkSpec.Sources(layer, l).Select(f => f < 0 ? x : outs[f]).ToArray();
            var p = w.AsSpan(spec.WeightOffset(l), layer.ParameterCount).ToArray();
            z = layer.Kind switch
            {
                LayerKind.Dense => Enumerable.Range(0, layer.Outputs)
                    .Select(o => p[layer.WeightCount + o] + Enumerable.Range(0, layer.Inputs).Sum(i => p[o * layer.Inputs + i] * src[0][i])).ToArray(),
                LayerKind.Conv => Conv2DTests.Reference(layer.Conv, src[0], 1, p),
                LayerKind.MaxPool or LayerKind.AvgPool => Pool2DTests.Reference(layer.Pool, src[0], 1),
                LayerKind.Flatten => src[0],
                LayerKind.Dropout => src[0].Select((v, i) => v * masks[l]![r * layer.Outputs + i]).ToArray(),
                LayerKind.Add => Enumerable.Range(0, layer.Outputs).Select(i => src.Sum(s => s[i])).ToArray(),
                LayerKind.Concat => src.SelectMany(s => s).ToArray(),
                LayerKind.LayerNorm => LayerNorm(src[0], p),
                LayerKind.GlobalAvgPool => Enumerable.Range(0, layer.Outputs)
                    .Select(ch => src[0].Skip(ch * layer.InShape.Height * layer.InShape.Width).Take(layer.InShape.Height * layer.InShape.Width).Average()).ToArray(),
                _ => throw new ArgumentOutOfRangeException(),
            };
            outs[l] = ReferenceNetwork.Activate(layer.Activation, z);
        }
        return (z, outs[^1]);
    }
}
