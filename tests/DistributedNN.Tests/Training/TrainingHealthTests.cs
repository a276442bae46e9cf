using DistributedNN.Coordinator;
using DistributedNN.Model;
using DistributedNN.Training;

namespace DistributedNN.Tests.Training;

/// <summary>
/// Training health: dead ReLU and saturated sigmoid/tanh counts against a plain reference, update/weight ratios against
/// one computed from copies of the weights, the warnings' thresholds, and the slow-worker rule.
/// </summary>
public sealed unsafe class TrainingHealthTests
{
    private static float[] Random(int n, ulong seed, float scale, float shift = 0)
    {
        var rng = new DistributedNN.Numerics.Rng(seed);
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float)(rng.NextDouble() * 2 - 1) * scale + shift;
        return x;
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(7, 33)]
    [InlineData(33, 7)]
    [InlineData(40, 257)]
    public void Dead_relu_units_are_counted_per_shard(int rows, int n)
    {
        // ReLU outputs with many zeros, whole columns zero in some shards
        var a = Random(rows * n, (ulong)(rows * 1000 + n), 1f).Select(v => v < 0.6f ? 0f : v).ToArray();
        for (int r = 0; r < rows / 2; r++) a[r * n + n / 2] = 0; // a unit dead in the first half
        int[] bounds = [0, rows / 3, rows / 3, rows];             // with an empty shard
        int expected = 0;
        for (int s = 0; s + 1 < bounds.Length; s++)
            if (bounds[s + 1] > bounds[s])
                for (int j = 0; j < n; j++)
                    if (Enumerable.Range(bounds[s], bounds[s + 1] - bounds[s]).All(r => a[r * n + j] == 0)) expected++;
        var scratch = new float[n];
        fixed (float* pa = a)
        fixed (float* ps = scratch)
            Assert.Equal(expected, ActivationHealth.Count(Activation.ReLU, pa, n, bounds, ps));
        Assert.True(expected > 0);
    }

    [Theory]
    [InlineData(Activation.Sigmoid, 7, 33)]
    [InlineData(Activation.Tanh, 33, 7)]
    [InlineData(Activation.Sigmoid, 1, 257)]
    public void Saturated_outputs_are_counted(Activation activation, int rows, int n)
    {
        float low = activation == Activation.Sigmoid ? 0f : -1f;
        var a = Random(rows * n, 11, 1f).Select(v => activation == Activation.Sigmoid ? (v + 1) / 2 : v).ToArray();
        a[0] = low + 0.005f; // surely saturated
        int expected = a.Count(v => v < low + ActivationHealth.Margin || v > 1 - ActivationHealth.Margin);
        var scratch = new float[n];
        fixed (float* pa = a)
        fixed (float* ps = scratch)
            Assert.Equal(expected, ActivationHealth.Count(activation, pa, n, [0, rows], ps));
        Assert.Equal((double)expected / (rows * n), ActivationHealth.Fraction(activation, expected, n, rows, 1));
    }

    [Fact]
    public void A_step_has_the_same_activity_counts_computed_whole_or_shard_by_shard()
    {
        // the single-process pass (all shards at once) and the workers' (one shard each) see the same counts
        var spec = NetworkSpec.FromSizes([12, 33, 17, 3], Activation.ReLU, Activation.Softmax, LossKind.CrossEntropy);
        var p = new float[spec.ParameterCount];
        Initializer.Initialize(spec, p, InitScheme.He, 5);
        int rows = 29;
        var x = Random(rows * 12, 3, 1f);
        var labels = Enumerable.Range(0, rows).Select(i => i % 3).ToArray();
        int[] bounds = [0, 8, 15, 22, 29];
        var whole = new Backprop(spec, rows);
        var g = new float[spec.ParameterCount];
        whole.Gradient(p, x, labels, rows, bounds, g);
        var sum = new int[spec.Layers.Count];
        var part = new Backprop(spec, 8);
        for (int s = 0; s < 4; s++)
        {
            int n = bounds[s + 1] - bounds[s];
            part.Gradient(p, x.AsSpan(bounds[s] * 12, n * 12), labels.AsSpan(bounds[s], n), n, g);
            for (int l = 0; l < sum.Length; l++) sum[l] += part.Activity[l];
        }
        Assert.Equal(sum, whole.Activity.ToArray());
        Assert.Equal(0, whole.Activity[2]); // softmax: no signal
    }

    [Fact]
    public void A_relu_layer_pushed_below_zero_is_reported_dead()
    {
        var spec = NetworkSpec.FromSizes([4, 10, 2], Activation.ReLU, Activation.Softmax, LossKind.CrossEntropy);
        var p = new float[spec.ParameterCount];
        Initializer.Initialize(spec, p, InitScheme.He, 1);
        for (int j = 0; j < 10; j++) p[spec.BiasOffset(0) + j] = -100f; // no input in [-1, 1] can lift it above 0
        var data = DistributedNN.Tests.Distributed.TestData.Load().Train;
        var state = new TrainingState(spec, p, new TrainingSettings(1, 32, 4, 1, true, new OptimizerSettings(OptimizerKind.Sgd, 0.1f)), data.Count);
        var backprop = new Backprop(spec, 32);
        var x = new float[32 * 4];
        var labels = new int[32];
        var batch = state.CurrentBatch;
        for (int r = 0; r < 32; r++)
        {
            data.Sample(batch[r]).CopyTo(x.AsSpan(r * 4, 4));
            labels[r] = data.Labels[batch[r]];
        }
        var bounds = new int[5];
        state.Plan.ShardBounds(32, bounds);
        var g = new float[spec.ParameterCount];
        var stats = backprop.Gradient(p, x, labels, 32, bounds, g);
        state.ApplyStep(g, stats, backprop.Activity);
        Assert.Equal(1.0, state.LastHealth[0]);
        Assert.Equal(0.0, state.LastHealth[1]);

        var health = new TrainingHealth(spec);
        var epoch = new EpochResult(1, 1, 1, 0.5, 1, 0.5, 1, 100, [0.1, 0.1], [0.001, 0.001], [1.0, 0]);
        var warning = Assert.Single(health.Check(epoch));
        Assert.Equal(("dead", 1), (warning.Kind, warning.Layer));
        Assert.Contains("100% of its units are dead", warning.Message);
    }

    [Theory]
    [InlineData(OptimizerKind.Sgd)]
    [InlineData(OptimizerKind.Nesterov)]
    [InlineData(OptimizerKind.AdamW)]
    public void Update_ratios_match_the_weights_before_and_after_and_leave_the_update_unchanged(OptimizerKind kind)
    {
        var spec = NetworkSpec.FromSizes([37, 33, 7, 1], Activation.Tanh, Activation.Sigmoid, LossKind.SumSquaredError);
        var settings = new OptimizerSettings(kind, 0.05f, WeightDecay: 0.01f);
        var w = Random(spec.ParameterCount, 2, 0.5f);
        var plain = (float[])w.Clone();
        var reference = new Optimizer(settings, w.Length);
        var measured = new Optimizer(settings, w.Length);
        var ratios = new double[3];
        for (int step = 0; step < 3; step++)
        {
            var g = Random(w.Length, (ulong)(10 + step), 3f);
            var before = (float[])w.Clone();
            reference.Step(plain, g, 1f / 16);
            measured.Step(w, g, 1f / 16, spec, ratios);
            Assert.Equal(plain, w); // the same bits as a step that measures nothing
            for (int l = 0; l < 3; l++)
            {
                var (offset, length) = spec.LayerRange(l);
                double du = 0, ww = 0;
                for (int i = offset; i < offset + length; i++)
                {
                    du += System.Math.Pow((double)w[i] - before[i], 2);
                    ww += (double)w[i] * w[i];
                }
                Assert.Equal(System.Math.Sqrt(du / ww), ratios[l], System.Math.Sqrt(du / ww) * 1e-4);
            }
        }
        Assert.All(ratios, r => Assert.True(r > 0));
    }

    private static EpochResult Epoch(int epoch, double[] norms, double[]? ratios = null, double[]? health = null) =>
        new(epoch, epoch * 10, 1, 0.5, 1, 0.5, 1, 100, norms, ratios ?? norms.Select(_ => 1e-3).ToArray(), health ?? new double[norms.Length]);

    [Fact]
    public void A_healthy_run_gets_no_warnings()
    {
        var spec = NetworkSpec.FromSizes([784, 256, 128, 10], Activation.ReLU, Activation.Softmax, LossKind.CrossEntropy);
        var health = new TrainingHealth(spec);
        Assert.Empty(health.Check(Epoch(1, [1.0, 0.9, 1.2], health: [0.15, 0.15, 0])));
        Assert.Empty(health.Check(Epoch(2, [0.8, 0.6, 0.8], health: [0.18, 0.11, 0])));
        Assert.Empty(health.Warnings);
    }

    [Fact]
    public void Vanishing_exploding_large_updates_and_saturation_are_each_named_once_per_layer()
    {
        var spec = NetworkSpec.FromSizes([10, 8, 8, 8, 2], Activation.Sigmoid, Activation.Softmax, LossKind.CrossEntropy);
        var health = new TrainingHealth(spec);
        // layer 1's gradient is 1e-5 of layer 4's: vanishing (and layer 2 at 2e-3 is not)
        var first = health.Check(Epoch(1, [1e-5, 2e-3, 0.1, 1.0]));
        var vanishing = Assert.Single(first);
        Assert.Equal(("vanishing", 1, 1), (vanishing.Kind, vanishing.Layer, vanishing.Epoch));
        Assert.Contains("try --activation relu", vanishing.Message);
        // layer 3 grows 1000× (which leaves layer 2 at 2e-5 of the largest), layer 2 updates by 50% per step, layer 3
        // saturates; layer 1 is still vanishing but not repeated
        var second = health.Check(Epoch(2, [1e-5, 2e-3, 100, 1.0], ratios: [1e-3, 0.5, 1e-3, 1e-3], health: [0, 0, 0.9, 0]));
        Assert.Equal(new[] { ("vanishing", 2), ("large-updates", 2), ("exploding", 3), ("saturated", 3) }, second.Select(w => (w.Kind, w.Layer)).ToArray());
        Assert.Contains("lower --lr", second[2].Message);
        Assert.Empty(health.Check(Epoch(3, [1e-5, 2e-3, 100, 1.0], ratios: [1e-3, 0.5, 1e-3, 1e-3], health: [0, 0, 0.9, 0])));
        Assert.Equal(5, health.Warnings.Count);
        // an output layer near 0 and 1 is a trained one, not a problem
        Assert.Empty(new TrainingHealth(NetworkSpec.FromSizes([2, 4, 1], Activation.ReLU, Activation.Sigmoid, LossKind.SumSquaredError))
            .Check(Epoch(1, [1.0, 1.0], health: [0, 0.95])));
    }

    [Fact]
    public void A_worker_much_slower_than_the_others_median_is_named_slow()
    {
        var tracker = new WorkerStatsTracker();
        foreach (var (worker, ms) in new[] { ("a", 5.0), ("b", 6.0), ("c", 5.5), ("d", 9.0), ("a", 5.0), ("d", 9.0) }) tracker.Add(worker, ms);
        var epoch = tracker.EndEpoch(1);
        Assert.Equal(new[] { "a", "b", "c", "d" }, epoch.Select(w => w.Worker).ToArray());
        Assert.Equal(new[] { 2, 1, 1, 2 }, epoch.Select(w => w.Shards).ToArray());
        Assert.Equal(new[] { "d" }, epoch.Where(w => w.Slow).Select(w => w.Worker).ToArray()); // 9 > 1.5 × 5.5
        tracker.Add("a", 5.0);
        tracker.Add("b", 7.0); // 7 < 1.5 × 5: not slow
        Assert.DoesNotContain(tracker.EndEpoch(2), w => w.Slow);
        Assert.Equal(6, tracker.All.Count);
        tracker.Add("x", 0.27);
        tracker.Add("y", 0.48); // 1.8× but a fifth of a millisecond: not a slow node
        Assert.DoesNotContain(tracker.EndEpoch(3), w => w.Slow);
        tracker.Add("alone", 100);
        Assert.False(Assert.Single(tracker.EndEpoch(4)).Slow); // nobody to compare with
    }
}
