using System.Text.Json;
using DistributedNN.Tests.Cli;

namespace DistributedNN.Tests.Distributed;

/// <summary>
/// The sharded topology (--topology sharded): each worker owns a slice of the parameter vector, sums it over the shards in
/// shard order and updates it; the coordinator gets one sum per step. The promise holds: the same weights as one process,
/// for any number of workers and any optimizer, and the coordinator's link carries the same bytes whatever the number of
/// workers. Real in-process workers over real tcp data planes on 127.0.0.1.
/// </summary>
[Trait(TestTiers.Category, TestTiers.Integration)]
public sealed class ShardedTopologyTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    public void Dispose() => _dir.Dispose();

    private static readonly string[] Dense = ["--train-limit", "3200", "--layers", "784,64,32,10"];
    private const long DenseParameters = 784 * 64 + 64 + 64 * 32 + 32 + 32 * 10 + 10;

    private (string Hash, JsonElement Metrics, string Output) Train(string name, int steps, params string[] args)
    {
        string metrics = _dir.File(name + ".json");
        // the runs of DeterminismTests: batches of 64 in 6 shards
        var (exit, output, err) = CliRunner.Run(["train", "--batch", "64", "--shards", "6", "--epochs", "1", "--metrics-out", metrics, "--out", _dir.File(name), .. args]);
        Assert.True(exit == 0, $"{name}: exit {exit}\n{err}\n{output}");
        var root = JsonDocument.Parse(File.ReadAllText(metrics)).RootElement.Clone();
        Assert.Equal(steps, root.GetProperty("steps").GetInt32());
        return (root.GetProperty("weights_sha256").GetString()!, root, output);
    }

    private static string[] Sharded(int workers) => ["--workers", workers.ToString(), "--transport", "tcp", "--topology", "sharded"];

    [Fact]
    public void Sharded_runs_end_with_the_reference_weights_on_any_number_of_workers_and_the_coordinator_gets_one_sum_a_step()
    {
        string[] momentum = [.. Dense, "--optimizer", "momentum", "--lr", "0.05"];
        long received = -1;
        foreach (int workers in new[] { 1, 2, 3 })
        {
            var (hash, m, output) = Train($"sharded-{workers}", 50, [.. momentum, .. Sharded(workers)]);
            Assert.Equal(ReferenceHashes.Dense, hash);
            Assert.Contains("sharded", output);
            // the coordinator's link: one gradient sum per step in, whatever the number of workers (a star: one per shard)
            long bytes = m.GetProperty("bytes_received").GetInt64();
            Assert.Equal(50 * DenseParameters * 4, bytes);
            if (received >= 0) Assert.Equal(received, bytes);
            received = bytes;
        }
    }

    [Fact]
    public void Adam_s_moments_live_in_the_slices_and_still_give_the_single_process_weights()
    {
        // Adam: the owners carry the first and second moments and the step count of their slices (weight decay too)
        string[] adam = [.. Dense, "--optimizer", "adamw", "--lr", "0.002", "--weight-decay", "0.01", "--seed", "3"];
        var (single, _, _) = Train("adam-single", 50, adam);
        Assert.Equal(single, Train("adam-sharded-3", 50, [.. adam, .. Sharded(3)]).Hash);
        Assert.Equal(single, Train("adam-star-2", 50, [.. adam, "--workers", "2", "--transport", "tcp"]).Hash);
    }

    [Fact]
    public void A_schedule_and_weight_decay_on_weights_only_give_the_single_process_weights_sharded_and_clipping_on_the_star()
    {
        // the owners compute each step's rate from the schedule in the layout, and keep the decay off the biases in their slices
        string[] recipe = [.. Dense, "--optimizer", "adamw", "--lr", "0.004", "--weight-decay", "0.1", "--weight-decay-on", "weights",
            "--lr-schedule", "cosine", "--warmup-steps", "7", "--seed", "4"];
        var (single, _, _) = Train("recipe-single", 50, recipe);
        Assert.NotEqual(Train("recipe-constant", 50, [.. Dense, "--optimizer", "adamw", "--lr", "0.004", "--weight-decay", "0.1", "--seed", "4"]).Hash, single);
        Assert.Equal(single, Train("recipe-sharded-3", 50, [.. recipe, .. Sharded(3)]).Hash);
        string[] clipped = [.. recipe, "--clip-norm", "0.5"];
        Assert.Equal(Train("clip-single", 50, clipped).Hash, Train("clip-star-2", 50, [.. clipped, "--workers", "2", "--transport", "tcp"]).Hash);
    }

    [Fact]
    public void A_convolutional_network_trains_to_the_same_weights_sharded()
    {
        string spec = _dir.File("net.json");
        File.WriteAllText(spec, """
            { "input": [1, 28, 28], "layers": [
                { "type": "conv", "filters": 4, "kernel": 5, "stride": 2, "padding": 1 },
                { "type": "maxpool", "size": 2 },
                { "type": "flatten" },
                { "type": "dense", "units": 24 },
                { "type": "dropout", "rate": 0.25 },
                { "type": "dense", "units": 10 } ] }
            """);
        string[] net = ["--train-limit", "640", "--model-spec", spec];
        var (single, _, _) = Train("cnn-single", 10, net);
        Assert.Equal(single, Train("cnn-sharded-2", 10, [.. net, .. Sharded(2)]).Hash);
    }

    [Fact]
    public void Batch_normalisation_and_augmentation_train_to_the_same_weights_on_workers_star_and_sharded()
    {
        // statistics per shard: the same on any worker; the running averages move with each step's sum, in every topology
        string spec = _dir.File("bn.json");
        File.WriteAllText(spec, """
            { "input": [1, 28, 28], "layers": [
                { "type": "conv", "filters": 4, "kernel": 5, "stride": 2, "padding": 1, "activation": "identity" },
                { "type": "batchnorm", "activation": "relu" },
                { "type": "globalavgpool" },
                { "type": "dense", "units": 16, "activation": "identity" },
                { "type": "layernorm", "activation": "gelu" },
                { "type": "dense", "units": 10 } ] }
            """);
        string[] net = ["--train-limit", "640", "--model-spec", spec, "--optimizer", "adamw", "--weight-decay", "0.01", "--weight-decay-on", "weights",
            "--random-crop", "2", "--random-flip"]; // the workers crop and flip the pixels one process would
        var (single, _, _) = Train("bn-single", 10, net);
        Assert.Equal(single, Train("bn-star-2", 10, [.. net, "--workers", "2", "--transport", "tcp"]).Hash);
        Assert.Equal(single, Train("bn-sharded-3", 10, [.. net, .. Sharded(3)]).Hash);
    }
}
