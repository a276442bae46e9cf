using System.Text.Json;
using DistributedNN.Model;
using DistributedNN.Training;

namespace DistributedNN.Tests.Training;

/// <summary>
/// Learning-rate schedules step for step as torch.optim.lr_scheduler gives them (bench/torch_schedules.py wrote the
/// figures), weight decay kept off the biases, and gradient clipping by global norm.
/// </summary>
public sealed class LearningRateScheduleTests
{
    private static JsonElement Cases()
    {
        using var stream = typeof(LearningRateScheduleTests).Assembly.GetManifestResourceStream("torch-schedules.json")!;
        return JsonDocument.Parse(stream).RootElement.GetProperty("cases").Clone();
    }

    public static TheoryData<string> Names() => new(Cases().EnumerateArray().Select(c => c.GetProperty("name").GetString()!));

    [Theory]
    [MemberData(nameof(Names))]
    public void Every_steps_rate_is_torchs(string name)
    {
        var c = Cases().EnumerateArray().Single(e => e.GetProperty("name").GetString() == name);
        Assert.True(LearningRateSchedule.TryParse(c.GetProperty("kind").GetString(), out var kind));
        float lr = c.GetProperty("lr").GetSingle();
        var schedule = new LearningRateSchedule(kind, c.GetProperty("warmup").GetInt32(), c.GetProperty("stepEpochs").GetInt32(),
            c.GetProperty("gamma").GetSingle(), c.GetProperty("min").GetSingle()).Resolve(c.GetProperty("stepsPerEpoch").GetInt64(), c.GetProperty("epochs").GetInt32());
        schedule.Validate(lr);
        var expected = c.GetProperty("rates").EnumerateArray().Select(v => v.GetDouble()).ToArray();
        for (int t = 0; t < expected.Length; t++)
        {
            double actual = schedule.LearningRate(lr, t);
            Assert.True(Math.Abs(actual - expected[t]) <= 1e-6 * Math.Max(1e-3, expected[t]) + 1e-9, $"{name}, step {t}: {actual} against torch's {expected[t]}");
        }
    }

    [Theory]
    [InlineData(ScheduleKind.OneCycle, 5, 0, "--lr-schedule one-cycle warms up by itself")]
    [InlineData(ScheduleKind.Step, 0, 0, "--lr-schedule step needs --lr-step-epochs")]
    [InlineData(ScheduleKind.Constant, -1, 0, "--warmup-steps must be zero or more")]
    public void Settings_that_make_no_schedule_are_refused(ScheduleKind kind, int warmup, int stepEpochs, string expected)
    {
        var e = Assert.Throws<UserErrorException>(() => new LearningRateSchedule(kind, warmup, stepEpochs).Validate(0.1f));
        Assert.StartsWith(expected, e.Message);
    }

    [Fact]
    public void The_optimizer_takes_the_schedules_rate_at_each_of_its_steps()
    {
        var schedule = new LearningRateSchedule(ScheduleKind.Cosine, WarmupSteps: 2).Resolve(4, 2);
        var opt = new Optimizer(new OptimizerSettings(OptimizerKind.Sgd, 0.5f, Schedule: schedule), 3);
        float[] w = [1, 2, 3], g = [1, 1, 1];
        for (int t = 0; t < 8; t++)
        {
            float before = w[0];
            opt.Step(w, g, 1f);
            Assert.Equal(before - schedule.LearningRate(0.5f, t), w[0]);
            Assert.Equal(schedule.LearningRate(0.5f, t), opt.LastLearningRate);
        }
    }

    [Theory]
    [InlineData(OptimizerKind.Sgd)]
    [InlineData(OptimizerKind.AdamW)]
    public void Weight_decay_on_weights_only_leaves_the_biases_alone_and_a_slice_owner_agrees(OptimizerKind kind)
    {
        var spec = NetworkSpec.FromSizes([3, 4, 2], Activation.ReLU, Activation.Softmax, LossKind.CrossEntropy);
        var settings = new OptimizerSettings(kind, 0.1f, WeightDecay: 0.5f, DecayBiases: false).Resolve(spec, 10, 1);
        var w = Enumerable.Range(1, spec.ParameterCount).Select(i => (float)i / 7).ToArray();
        var g = new float[w.Length]; // no gradient: only the decay moves a weight
        var whole = (float[])w.Clone();
        new Optimizer(settings, w.Length).Step(whole, g, 1f);
        for (int l = 0; l < 2; l++)
        {
            for (int i = spec.WeightOffset(l); i < spec.WeightOffset(l) + spec.Layers[l].WeightCount; i++) Assert.True(whole[i] < w[i], $"weight {i} not decayed");
            for (int i = spec.BiasOffset(l); i < spec.BiasOffset(l) + spec.Layers[l].Outputs; i++) Assert.Equal(w[i], whole[i]);
        }
        // an owner of a slice cut across a bias range updates its elements to the same bits
        int offset = spec.BiasOffset(0) - 2, length = 9;
        var slice = w.AsSpan(offset, length).ToArray();
        new Optimizer(settings, length, origin: offset).Step(slice, g.AsSpan(offset, length), 1f);
        Assert.Equal(whole.AsSpan(offset, length).ToArray(), slice);
        // and decaying everything (torch.optim's default) moves the biases too
        var all = (float[])w.Clone();
        new Optimizer(settings with { DecayBiases = true, NoDecay = null }, w.Length).Step(all, g, 1f);
        Assert.True(all[spec.BiasOffset(0)] < w[spec.BiasOffset(0)]);
    }

    [Fact]
    public void Clipping_scales_a_large_gradient_to_the_norm_and_leaves_a_small_one()
    {
        var spec = NetworkSpec.FromSizes([2, 2], Activation.Identity, Activation.Identity, LossKind.SumSquaredError);
        float[] Step(float clip, float size)
        {
            var p = new float[spec.ParameterCount];
            var state = new TrainingState(spec, p, new TrainingSettings(1, 4, 1, 1, false, new OptimizerSettings(OptimizerKind.Sgd, 1f), clip), 4);
            var g = Enumerable.Repeat(size, spec.ParameterCount).ToArray();
            state.ApplyStep(g, new BatchStats(1, 0, 1));
            return p;
        }
        // 6 parameters, each gradient 3: norm √54 ≈ 7.35; clipped to 1, the step is g·1/(√54 + 10⁻⁶)
        var clipped = Step(1f, 3f);
        double norm = Math.Sqrt(clipped.Sum(v => (double)v * v));
        Assert.InRange(norm, 1 - 1e-5, 1 + 1e-5);
        Assert.Equal(Step(0f, 0.1f), Step(1f, 0.1f)); // below the norm: untouched, bit for bit
    }
}
