using DistributedNN.Model;
using DistributedNN.Numerics;
using DistributedNN.Training;

namespace DistributedNN.Tests.Engine;

/// <summary>
/// Batch normalisation with statistics per shard: every gradient against central finite differences of a double-precision
/// reference that normalises each shard by its own statistics; the running statistics move by torch's average at each
/// step, are left out of gradient norms and weight decay, and are what evaluation uses.
/// </summary>
public sealed class BatchNormTests
{
    private const string Net = """
        { "input": 5, "layers": [ { "type": "dense", "units": 4, "activation": "identity" }, { "type": "batchnorm", "activation": "tanh" },
            { "type": "dense", "units": 3 } ] }
        """;

    // input → dense (identity) → batchnorm per shard → tanh → dense → softmax cross-entropy, in double
    private static double Loss(NetworkSpec spec, double[] w, float[] x, int[] labels, int[] shards)
    {
        int n = 5, h = 4, k = 3;
        int w1 = spec.WeightOffset(0), b1 = spec.BiasOffset(0), gamma = spec.WeightOffset(1), beta = spec.BiasOffset(1), w2 = spec.WeightOffset(2), b2 = spec.BiasOffset(2);
        double total = 0;
        for (int s = 0; s + 1 < shards.Length; s++)
        {
            int from = shards[s], rows = shards[s + 1] - from;
            if (rows == 0) continue;
            var z = new double[rows, h];
            for (int r = 0; r < rows; r++)
                for (int o = 0; o < h; o++)
                {
                    z[r, o] = w[b1 + o];
                    for (int i = 0; i < n; i++) z[r, o] += w[w1 + o * n + i] * x[(from + r) * n + i];
                }
            for (int o = 0; o < h; o++)
            {
                double mean = Enumerable.Range(0, rows).Average(r => z[r, o]);
                double variance = Enumerable.Range(0, rows).Average(r => (z[r, o] - mean) * (z[r, o] - mean));
                for (int r = 0; r < rows; r++) z[r, o] = Math.Tanh(w[gamma + o] * (z[r, o] - mean) / Math.Sqrt(variance + 1e-5) + w[beta + o]);
            }
            for (int r = 0; r < rows; r++)
            {
                var logits = Enumerable.Range(0, k).Select(c => w[b2 + c] + Enumerable.Range(0, h).Sum(o => w[w2 + c * h + o] * z[r, o])).ToArray();
                double max = logits.Max();
                total += Math.Log(logits.Sum(v => Math.Exp(v - max))) + max - logits[labels[from + r]];
            }
        }
        return total;
    }

    [Fact]
    public void Every_gradient_matches_finite_differences_of_a_per_shard_reference()
    {
        var spec = ModelSpec.Parse(Net, "bn");
        var rng = new Rng(21);
        var p = new float[spec.ParameterCount];
        Initializer.Initialize(spec, p, InitScheme.Xavier, 4);
        for (int i = 0; i < spec.StatOffset(1); i++) p[i] += (float)(rng.NextGaussian() * 0.3); // γ, β away from 1, 0
        const int rows = 11;
        int[] shards = [0, 4, 4, 7, 11]; // an empty shard too
        var x = Enumerable.Range(0, rows * 5).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var labels = Enumerable.Range(0, rows).Select(_ => rng.NextInt(3)).ToArray();
        var gradient = new float[spec.ParameterCount];
        var stats = new Backprop(spec, rows).Gradient(p, x, labels, rows, shards, gradient);
        var w = p.Select(v => (double)v).ToArray();
        Assert.Equal(Loss(spec, w, x, labels, shards), stats.LossSum, 1e-4);
        const double step = 1e-6;
        for (int i = 0; i < spec.StatOffset(1); i++)
        {
            double saved = w[i];
            w[i] = saved + step; double up = Loss(spec, w, x, labels, shards);
            w[i] = saved - step; double down = Loss(spec, w, x, labels, shards);
            w[i] = saved;
            double numeric = (up - down) / (2 * step);
            Assert.True(Math.Abs(gradient[i] - numeric) <= 2e-5 + 2e-4 * Math.Abs(numeric), $"parameter {i}: backprop {gradient[i]:G9}, finite differences {numeric:G9}");
        }
        // the statistics' slots: Σ over shards of rows × the shard's mean (unbiased variance)
        for (int o = 0; o < 4; o++)
        {
            double expected = 0;
            foreach (var (from, to) in new[] { (0, 4), (4, 7), (7, 11) })
            {
                var z = Enumerable.Range(from, to - from).Select(r => w[spec.BiasOffset(0) + o] + Enumerable.Range(0, 5).Sum(i => w[o * 5 + i] * x[r * 5 + i])).ToArray();
                expected += z.Length * z.Average();
            }
            Assert.Equal(expected, gradient[spec.StatOffset(1) + o], 1e-4);
        }
    }

    [Fact]
    public void The_running_statistics_move_by_torchs_average_and_stay_out_of_norms_and_decay()
    {
        var spec = ModelSpec.Parse(Net, "bn");
        var p = new float[spec.ParameterCount];
        Initializer.Initialize(spec, p, InitScheme.Xavier, 4);
        int stat = spec.StatOffset(1);
        Assert.Equal([0f, 0f, 0f, 0f, 1f, 1f, 1f, 1f], p.AsSpan(stat, 8).ToArray());
        var settings = new TrainingSettings(1, 8, 2, 1, false, new OptimizerSettings(OptimizerKind.AdamW, 0.01f, WeightDecay: 0.5f, DecayBiases: false), ClipNorm: 0.01f);
        var state = new TrainingState(spec, p, settings, 8);
        var g = new float[spec.ParameterCount];
        for (int i = 0; i < stat; i++) g[i] = 0.001f;
        for (int o = 0; o < 4; o++) (g[stat + o], g[stat + 4 + o]) = (8 * (o + 1f), 8 * 2f); // batch mean o + 1, variance 2
        var before = (float[])p.Clone();
        state.ApplyStep(g, new BatchStats(1, 0, 8));
        for (int o = 0; o < 4; o++)
        {
            Assert.Equal(0.9f * 0f + 0.1f * (o + 1f), p[stat + o], 6);
            Assert.Equal(0.9f * 1f + 0.1f * 2f, p[stat + 4 + o], 6);
        }
        // the norm layer's gradient norm counts γ and β only; clipping to 0.01 did not shrink the statistics' average
        Assert.Equal(Math.Sqrt(8) * 0.001 / 8, state.LastNorms[1], 1e-9);
        // no decay on γ and β with --weight-decay-on weights: AdamW's first step moves them by the learning rate exactly
        Assert.Equal(before[spec.WeightOffset(1)] - 0.01f, p[spec.WeightOffset(1)], 5);
    }

    [Fact]
    public void The_statistics_travel_in_model_files_and_the_JSON_export()
    {
        var spec = ModelSpec.Parse(Net, "bn");
        var p = Enumerable.Range(0, spec.ParameterCount).Select(i => MathF.Sin(i) + 1.5f).ToArray();
        var model = new DistributedNN.Serialization.TrainedModel(spec, p);
        Assert.Equal(p, DistributedNN.Serialization.ModelFile.Decode(DistributedNN.Serialization.ModelFile.Encode(model), "m").Parameters);
        using var ms = new MemoryStream();
        DistributedNN.Serialization.ModelJson.Write(ms, model);
        using (var doc = System.Text.Json.JsonDocument.Parse(ms.ToArray()))
        {
            var layer = doc.RootElement.GetProperty("layers")[1];
            Assert.Equal(p[spec.StatOffset(1)], layer.GetProperty("running_mean")[0].GetSingle());
            Assert.Equal(p[spec.StatOffset(1) + 4], layer.GetProperty("running_var")[0].GetSingle());
        }
        Assert.Equal(p, DistributedNN.Serialization.ModelJson.Parse(ms.ToArray(), "m.json").Parameters);
    }
}
