using DistributedNN.Model;
using DistributedNN.Numerics;
using DistributedNN.Training;

namespace DistributedNN.Tests.Engine;

public sealed class AllocationTests
{
    [Theory]
    [InlineData(Activation.ReLU, LossKind.CrossEntropy, OptimizerKind.Adam)]
    [InlineData(Activation.Sigmoid, LossKind.SumSquaredError, OptimizerKind.Nesterov)]
    [InlineData(Activation.Tanh, LossKind.MeanSquaredError, OptimizerKind.Sgd)]
    public void A_training_step_allocates_nothing_in_steady_state(Activation hidden, LossKind loss, OptimizerKind optimizer)
    {
        var spec = NetworkSpec.FromSizes([50, 40, 30, 10], hidden, loss == LossKind.CrossEntropy ? Activation.Softmax : Activation.Sigmoid, loss);
        var p = new float[spec.ParameterCount];
        Initializer.Initialize(spec, p, InitScheme.Auto, 1);
        const int rows = 32;
        var rng = new Rng(2);
        var x = new float[rows * 50];
        for (int i = 0; i < x.Length; i++) x[i] = (float)rng.NextDouble();
        var y = Enumerable.Range(0, rows).Select(i => i % 10).ToArray();
        var g = new float[p.Length];
        var bp = new Backprop(spec, rows);
        var opt = new Optimizer(new OptimizerSettings(optimizer, 0.01f), p.Length);
        int[] bounds = [0, 8, 16, 24, 32];
        var norms = new double[spec.Layers.Count];

        void Step()
        {
            bp.Gradient(p, x, y, rows, bounds, g);
            GradientNorms.Compute(spec, g, 1f / rows, norms);
            opt.Step(p, g, 1f / rows);
        }
        Assert.Equal(0, SteadyStateAllocation(Step, 50));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)] // shards side by side on a team's threads (the calling thread's share measured)
    public void A_graph_network_step_with_convolution_pooling_dropout_and_a_skip_allocates_nothing_in_steady_state(int threads)
    {
        var spec = ModelSpec.Parse("""
            { "input": [2, 9, 9], "layers": [
                { "type": "conv", "filters": 4, "kernel": 3, "padding": 1 }, { "type": "maxpool", "size": 2 },
                { "type": "dense", "units": 12, "name": "h" }, { "type": "dropout", "rate": 0.2 },
                { "type": "dense", "units": 12, "name": "r" }, { "type": "add", "from": ["h", "r"] },
                { "type": "concat", "from": ["layer6", "h"] }, { "type": "dense", "units": 5 } ] }
            """, "graph");
        var p = new float[spec.ParameterCount];
        Initializer.Initialize(spec, p, InitScheme.Auto, 1);
        const int rows = 20;
        var rng = new Rng(2);
        var x = Enumerable.Range(0, rows * spec.InputSize).Select(_ => (float)rng.NextDouble()).ToArray();
        var y = Enumerable.Range(0, rows).Select(i => i % 5).ToArray();
        var g = new float[p.Length];
        var bp = new Backprop(spec, rows);
        using var team = threads > 1 ? new GemmTeam(threads) : null;
        bp.Team = team;
        int[] bounds = [0, 7, 7, 20];
        int step = 0;
        void Step() => bp.Gradient(p, x, y, rows, bounds, g, dropout: new DropoutKey(1, 0, step++));
        Assert.Equal(0, SteadyStateAllocation(Step, 30));
    }

    /// <summary>
    /// Bytes this thread allocates in <paramref name="steps"/> calls after a warm-up: the least of three windows in a row.
    /// An allocation per step shows in every window; a one-off of the runtime's (tiered compilation promoting a method
    /// once its call count is reached, which the full suite's other JIT work can delay into any window) in one only.
    /// </summary>
    private static long SteadyStateAllocation(Action step, int steps)
    {
        for (int i = 0; i < 2 * steps; i++) step();
        long least = long.MaxValue;
        for (int window = 0; window < 3; window++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < steps; i++) step();
            least = System.Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        return least;
    }
}
