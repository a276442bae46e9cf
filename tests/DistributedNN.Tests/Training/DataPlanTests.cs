using DistributedNN.Model;
using DistributedNN.Training;

namespace DistributedNN.Tests.Training;

public sealed class DataPlanTests
{
    [Fact]
    public void Each_epoch_visits_every_sample_once_in_a_seeded_order()
    {
        var plan = new DataPlan(1000, 128, 4, seed: 7, shuffle: true);
        Assert.Equal(8, plan.StepsPerEpoch);
        var seen = new List<int>();
        for (int s = 0; s < plan.StepsPerEpoch; s++) seen.AddRange(plan.Batch(0, s).ToArray());
        Assert.Equal(Enumerable.Range(0, 1000), seen.Order());
        Assert.Equal(1000 - 7 * 128, plan.Batch(0, 7).Length); // the last, shorter batch is kept

        var epoch0 = plan.EpochOrder(0).ToArray();
        var epoch1 = plan.EpochOrder(1).ToArray();
        Assert.NotEqual(epoch0, epoch1);
        Assert.Equal(epoch0, new DataPlan(1000, 128, 4, 7, true).EpochOrder(0).ToArray());
        Assert.NotEqual(epoch0, new DataPlan(1000, 128, 4, 8, true).EpochOrder(0).ToArray());
        Assert.Equal(Enumerable.Range(0, 1000), new DataPlan(1000, 128, 4, 7, shuffle: false).EpochOrder(3).ToArray());
    }

    [Fact]
    public void Shard_bounds_depend_only_on_the_batch_length()
    {
        var plan = new DataPlan(1000, 128, 3, 1, true);
        var bounds = new int[4];
        plan.ShardBounds(128, bounds);
        Assert.Equal([0, 42, 85, 128], bounds);
        plan.ShardBounds(104, bounds);
        Assert.Equal([0, 34, 69, 104], bounds);
        plan.ShardBounds(2, bounds);
        Assert.Equal([0, 0, 1, 2], bounds); // a batch shorter than K leaves empty shards
    }

    [Theory]
    [InlineData(0, 1, "--batch must be at least 1 (got 0)")]
    [InlineData(4, 0, "--shards must be at least 1 (got 0)")]
    [InlineData(4, 5, "--shards (5) cannot exceed --batch (4): a shard needs at least one sample")]
    public void Bad_plans_are_refused(int batch, int shards, string message)
    {
        Assert.Equal(message, Assert.Throws<UserErrorException>(() => new DataPlan(10, batch, shards, 1, true)).Message);
    }
}

public sealed class InitializerTests
{
    [Theory]
    [InlineData(InitScheme.Xavier)]
    [InlineData(InitScheme.He)]
    [InlineData(InitScheme.PyTorch)]
    public void Weights_have_the_schemes_spread_and_repeat_for_a_seed(InitScheme scheme)
    {
        var spec = NetworkSpec.FromSizes([400, 300, 10], Activation.ReLU, Activation.Softmax, LossKind.CrossEntropy);
        var p = new float[spec.ParameterCount];
        Initializer.Initialize(spec, p, scheme, 3);
        var w = p.AsSpan(0, 400 * 300).ToArray();
        double mean = w.Average(x => (double)x), std = Math.Sqrt(w.Average(x => (double)x * x) - mean * mean);
        double expected = scheme switch
        {
            InitScheme.Xavier => Math.Sqrt(2.0 / (400 + 300)),   // U(−a, a) with a = √(6/(in+out)) has σ = a/√3
            InitScheme.He => Math.Sqrt(2.0 / 400),
            _ => 1 / Math.Sqrt(400) / Math.Sqrt(3),
        };
        Assert.InRange(std, expected * 0.97, expected * 1.03);
        Assert.InRange(mean, -0.01 * expected * 10, 0.01 * expected * 10);
        var biases = p.AsSpan(spec.BiasOffset(0), 300).ToArray();
        Assert.Equal(scheme != InitScheme.PyTorch, biases.All(b => b == 0));

        var again = new float[p.Length];
        Initializer.Initialize(spec, again, scheme, 3);
        Assert.Equal(p, again);
        Initializer.Initialize(spec, again, scheme, 4);
        Assert.NotEqual(p, again);
    }
}
