using DistributedNN.Model;
using DistributedNN.Training;

namespace DistributedNN.Tests.Distributed;

/// <summary>Three real ActorSystems in this process, a cluster over TCP on 127.0.0.1: one coordinator, two workers.</summary>
[Trait(TestTiers.Category, TestTiers.Integration)]
public sealed class ClusterSpecs : IAsyncLifetime
{
    private readonly TestNodes _nodes = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _nodes.DisposeAsync();

    [Fact]
    public async Task A_coordinator_and_two_worker_nodes_train_a_small_problem_to_a_low_loss()
    {
        var data = TestData.Load();
        var spec = NetworkSpec.FromSizes([4, 16, 2], Activation.Tanh, Activation.Softmax, LossKind.CrossEntropy);
        var p = new float[spec.ParameterCount];
        Initializer.Initialize(spec, p, InitScheme.Xavier, 1);
        var settings = new TrainingSettings(Epochs: 8, BatchSize: 32, Shards: 4, Seed: 2, Shuffle: true, new OptimizerSettings(OptimizerKind.Adam, 0.02f));
        var state = new TrainingState(spec, p, settings, data.Train.Count);

        var (seed, completion) = await _nodes.StartCoordinator(state, minWorkers: 2, TimeSpan.FromSeconds(60));
        await _nodes.StartWorker(seed);
        await _nodes.StartWorker(seed);

        var outcome = await completion.WaitAsync(TimeSpan.FromSeconds(120));
        Assert.Equal(2, outcome.Workers);
        Assert.Equal(8, outcome.Epochs.Count);
        Assert.True(outcome.Epochs[^1].TestLoss < 0.25, $"test loss {outcome.Epochs[^1].TestLoss}");
        Assert.True(outcome.Epochs[^1].TestAccuracy > 0.9, $"test accuracy {outcome.Epochs[^1].TestAccuracy}");
        Assert.True(outcome.TensorBytesReceived > 0 && outcome.TensorBytesSent > 0);

        // the same run in one process ends with the same bits
        var local = new float[spec.ParameterCount];
        Initializer.Initialize(spec, local, InitScheme.Xavier, 1);
        new LocalTrainer(spec, local, settings).Train(data.Train, data.Data.Test);
        Assert.Equal(TrainingState.HashWeights(local), outcome.WeightsSha256);
    }
}
