using DistributedNN.Model;
using DistributedNN.Planning;

namespace DistributedNN.Tests.Planning;

/// <summary>Parameter and FLOP counts of real networks against the hand count, and the `auto` topology choice.</summary>
public sealed class NetworkCostTests
{
    private static NetworkCost Dense(params int[] sizes) =>
        NetworkCost.Of(NetworkSpec.FromSizes(sizes, Activation.ReLU, Activation.Softmax, LossKind.CrossEntropy));

    [Fact]
    public void Dense_stacks_count_weights_biases_and_three_times_the_forward_multiply_adds()
    {
        var mlp = Dense(784, 256, 128, 10);
        Assert.Equal(784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10, mlp.Parameters);
        Assert.Equal(235_146, mlp.Parameters);
        Assert.Equal(3 * 2 * (784 * 256 + 256 * 128 + 128 * 10), mlp.FlopsPerSample);
        Assert.Equal(1_408_512, mlp.FlopsPerSample);
        Assert.Equal(203_530, Dense(784, 256, 10).Parameters);
        Assert.Equal(1_863_690, Dense(784, 1024, 1024, 10).Parameters);
    }

    [Fact]
    public void The_cnn_example_counts_its_convolutions_per_output_pixel()
    {
        var cnn = NetworkCost.Of(ModelSpec.Load(Path.Combine(SourceShapeTests.RepositoryRoot(), "examples", "cnn.json")));
        // conv 1→32 5×5 on 28×28 → 24×24; pool → 12×12; conv 32→64 5×5 → 8×8; pool → 4×4; dense 1024→128→10
        Assert.Equal(32 * 25 + 32 + 64 * 32 * 25 + 64 + 1024 * 128 + 128 + 128 * 10 + 10, cnn.Parameters);
        Assert.Equal(184_586, cnn.Parameters);
        double forward = 2.0 * 1 * 25 * 32 * 24 * 24 + 2.0 * 32 * 25 * 64 * 8 * 8 + 2.0 * 1024 * 128 + 2.0 * 128 * 10;
        Assert.Equal(7_739_904, forward);
        Assert.Equal(3 * forward, cnn.FlopsPerSample);
    }

    [Fact]
    public void Auto_picks_star_on_one_host_and_sharded_on_eight_for_a_wide_dense_network_at_10_gbit()
    {
        var wide = Dense(784, 1024, 1024, 10);
        var machine = new MachineFigures(FlopsPerSecond: 113e9, SampleSeconds: null, LinkBytesPerSecond: 10e9 / 8, LatencySeconds: 50e-6,
            MessageSeconds: 20e-6, SumSecondsPerParameter: 0.3e-9, OptimizerSecondsPerParameter: 0.7e-9);
        Assert.Equal(Topology.Star, TopologyChoice.Choose(wide, machine, new StepShape(1, 8, 2048)));
        Assert.Equal(Topology.Sharded, TopologyChoice.Choose(wide, machine, new StepShape(8, 8, 2048)));
        // a compute-bound network barely notices the link: the star stays
        var tiny = new NetworkCost(1000, 1e9);
        Assert.Equal(Topology.Star, TopologyChoice.Choose(tiny, machine, new StepShape(8, 8, 2048)));
    }
}
