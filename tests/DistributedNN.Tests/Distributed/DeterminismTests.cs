using System.Text.Json;
using DistributedNN.Tests.Cli;

namespace DistributedNN.Tests.Distributed;

/// <summary>
/// The promise: for the same seed and global batch, the single-process trainer (1, 2 and 3 threads), 1, 2 and 3 in-process
/// workers and 2 worker processes (over TCP or shared memory) end with bit-identical weights (50 steps on Fashion-MNIST).
/// </summary>
public sealed class DeterminismTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    public void Dispose() => _dir.Dispose();

    private (string Hash, JsonElement Metrics) Run(string name, params string[] extra) =>
        Train(name, 50, ["--train-limit", "3200", "--layers", "784,64,32,10", .. extra]);

    private (string Hash, JsonElement Metrics) Train(string name, int steps, string[] args)
    {
        string metrics = _dir.File(name + ".json");
        // batches of 64 in 6 shards
        var (exit, output, err) = CliRunner.Run(["train", "--batch", "64", "--shards", "6", "--epochs", "1",
            "--optimizer", "momentum", "--lr", "0.05", "--metrics-out", metrics, .. args]);
        Assert.True(exit == 0, $"{name}: exit {exit}\n{err}\n{output}");
        var root = JsonDocument.Parse(File.ReadAllText(metrics)).RootElement.Clone();
        Assert.Equal(steps, root.GetProperty("steps").GetInt32());
        return (root.GetProperty("weights_sha256").GetString()!, root);
    }

    [Fact]
    public void A_convolutional_network_with_dropout_and_a_skip_connection_ends_with_the_same_weights_every_way()
    {
        string spec = _dir.File("net.json");
        File.WriteAllText(spec, """
            { "input": [1, 28, 28], "layers": [
                { "type": "conv", "filters": 6, "kernel": 5, "stride": 2, "padding": 1 },
                { "type": "maxpool", "size": 2 },
                { "type": "flatten" },
                { "type": "dense", "units": 32, "name": "h" },
                { "type": "dropout", "rate": 0.25 },
                { "type": "dense", "units": 32, "activation": "identity", "name": "r" },
                { "type": "add", "from": ["h", "r"], "activation": "relu" },
                { "type": "dense", "units": 10 } ] }
            """);
        // 640 samples in batches of 64 = 10 steps
        string[] net = ["--train-limit", "640", "--model-spec", spec];
        var (single, m) = Train("graph-single", 10, net);
        Assert.Equal(single, Train("graph-threads-2", 10, [.. net, "--threads", "2"]).Hash);
        Assert.Equal(single, Train("graph-workers-3", 10, [.. net, "--workers", "3"]).Hash);
        Assert.Equal(single, Train("graph-processes", 10, [.. net, "--spawn-workers", "2"]).Hash);
        Assert.Equal(single, Train("graph-tcp-processes", 10, [.. net, "--spawn-workers", "2", "--transport", "tcp"]).Hash);
        // dropout is keyed by the seed: another seed, other weights
        Assert.NotEqual(single, Train("graph-seed-2", 10, [.. net, "--seed", "2"]).Hash);
        Assert.True(m.GetProperty("test_accuracy").GetDouble() > 0.3, "10 steps of a CNN should be well above chance");
    }

    [Fact]
    public void Every_way_of_running_ends_with_the_same_weights()
    {
        var (single, singleMetrics) = Run("single");
        Assert.Equal("single-process", singleMetrics.GetProperty("mode").GetString());
        Assert.Matches("^[0-9a-f]{64}$", single);
        foreach (int workers in new[] { 1, 2, 3 })
        {
            var (hash, m) = Run($"workers-{workers}", "--workers", workers.ToString());
            Assert.Equal(single, hash);
            Assert.Equal("in-process", m.GetProperty("mode").GetString());
            Assert.Equal(workers, m.GetProperty("workers").GetInt32());
            Assert.Equal(singleMetrics.GetProperty("test_accuracy").GetDouble(), m.GetProperty("test_accuracy").GetDouble());
        }
        foreach (int threads in new[] { 2, 3 })
            Assert.Equal(single, Run($"threads-{threads}", "--threads", threads.ToString()).Hash); // products on a GemmTeam
        // bf16 gradients: other weights than fp32, but the same for any number of workers, with half the bytes up
        var (bf16One, b1) = Run("bf16-1", "--workers", "1", "--gradient-format", "bf16");
        var (bf16Three, b3) = Run("bf16-3", "--workers", "3", "--gradient-format", "bf16");
        Assert.NotEqual(single, bf16One);
        Assert.Equal(bf16One, bf16Three);
        Assert.Equal("bf16", b3.GetProperty("gradient_format").GetString());
        var (_, fp32Three) = Run("fp32-3", "--workers", "3");
        Assert.Equal(fp32Three.GetProperty("bytes_received").GetInt64(), 2 * b3.GetProperty("bytes_received").GetInt64());
        // the same learning, to within rounding noise (the accuracy after 50 steps is too jumpy to compare)
        double fp32Loss = fp32Three.GetProperty("train_loss").GetDouble(), bf16Loss = b3.GetProperty("train_loss").GetDouble();
        Assert.True(Math.Abs(bf16Loss - fp32Loss) < 0.05 * fp32Loss, $"train loss fp32 {fp32Loss}, bf16 {bf16Loss}");
        // bf16 weights too: again the same for any number of workers, with half the bytes down
        var (both1, _) = Run("bf16w-1", "--workers", "1", "--gradient-format", "bf16", "--weight-format", "bf16");
        var (both3, w3) = Run("bf16w-3", "--workers", "3", "--gradient-format", "bf16", "--weight-format", "bf16");
        Assert.Equal(both1, both3);
        Assert.NotEqual(bf16Three, both3);
        Assert.Equal(fp32Three.GetProperty("bytes_sent").GetInt64(), 2 * w3.GetProperty("bytes_sent").GetInt64());
        var (processes, pm) = Run("processes", "--spawn-workers", "2", "--transport", "tcp");
        Assert.Equal(single, processes);
        Assert.Equal("multi-process", pm.GetProperty("mode").GetString());
        // tensors moved: per step at least the weights to each worker and one gradient per shard back
        Assert.True(pm.GetProperty("bytes_received").GetInt64() >= 50L * 6 * (784 * 64 + 64 + 64 * 32 + 32 + 32 * 10 + 10) * 4);
        // shared memory instead of sockets (the default for workers this run starts): the same weights, the same tensors counted
        var (shm, sm) = Run("shm-processes", "--spawn-workers", "2"); // auto: all workers spawned here, so shm
        Assert.Equal(single, shm);
        Assert.Equal(pm.GetProperty("bytes_received").GetInt64(), sm.GetProperty("bytes_received").GetInt64());
        Assert.Equal(single, Run("tcp-3", "--workers", "3", "--transport", "tcp").Hash);
    }
}
