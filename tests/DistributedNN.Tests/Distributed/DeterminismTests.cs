using System.Text.Json;
using DistributedNN.Serialization;
using DistributedNN.Tests.Cli;

namespace DistributedNN.Tests.Distributed;

/// <summary>
/// The promise, and the reference the redesign is held to: for the same seed and global batch, the single-process trainer
/// (1, 2 and 3 threads), 1, 2 and 3 in-process workers, 2 worker processes over tcp, shm and akka, and a run resumed from a
/// checkpoint end with bit-identical weights — and with the very weights recorded in <see cref="ReferenceHashes"/>.
/// </summary>
public sealed class DeterminismTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    public void Dispose() => _dir.Dispose();

    private static readonly string[] Dense = ["--train-limit", "3200", "--layers", "784,64,32,10"];

    private (string Hash, JsonElement Metrics) Run(string name, params string[] extra) => Train(name, 50, [.. Dense, .. extra]);

    private (string Hash, JsonElement Metrics) Train(string name, int steps, string[] args)
    {
        string metrics = _dir.File(name + ".json");
        // batches of 64 in 6 shards
        var (exit, output, err) = CliRunner.Run(["train", "--batch", "64", "--shards", "6", "--epochs", "1",
            "--optimizer", "momentum", "--lr", "0.05", "--metrics-out", metrics, "--out", _dir.File(name), .. args]);
        Assert.True(exit == 0, $"{name}: exit {exit}\n{err}\n{output}");
        var root = JsonDocument.Parse(File.ReadAllText(metrics)).RootElement.Clone();
        Assert.Equal(steps, root.GetProperty("steps").GetInt32());
        return (root.GetProperty("weights_sha256").GetString()!, root);
    }

    [Fact]
    [Trait(TestTiers.Category, TestTiers.EndToEnd)]
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
        Assert.Equal(ReferenceHashes.Graph, single);
        Assert.Equal(single, Train("graph-threads-2", 10, [.. net, "--threads", "2"]).Hash);
        Assert.Equal(single, Train("graph-workers-3", 10, [.. net, "--workers", "3"]).Hash);
        Assert.Equal(single, Train("graph-processes", 10, [.. net, "--spawn-workers", "2"]).Hash);
        Assert.Equal(single, Train("graph-tcp-processes", 10, [.. net, "--spawn-workers", "2", "--transport", "tcp"]).Hash);
        // dropout is keyed by the seed: another seed, other weights
        Assert.NotEqual(single, Train("graph-seed-2", 10, [.. net, "--seed", "2"]).Hash);
        Assert.True(m.GetProperty("test_accuracy").GetDouble() > 0.3, "10 steps of a CNN should be well above chance");
    }

    [Fact]
    [Trait(TestTiers.Category, TestTiers.EndToEnd)]
    public void Every_way_of_running_ends_with_the_same_weights()
    {
        var (single, singleMetrics) = Run("single");
        Assert.Equal("single-process", singleMetrics.GetProperty("mode").GetString());
        Assert.Equal(ReferenceHashes.Dense, single);
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
        Assert.Equal(ReferenceHashes.DenseBf16Gradients, bf16One);
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
        Assert.Equal(ReferenceHashes.DenseBf16Frames, both1);
        Assert.Equal(both1, both3);
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
        // Akka.Remote chunks, the fallback
        var (akka, am) = Run("akka-processes", "--spawn-workers", "2", "--transport", "akka");
        Assert.Equal(single, akka);
        Assert.Equal(pm.GetProperty("bytes_received").GetInt64(), am.GetProperty("bytes_received").GetInt64());
        Assert.Equal(single, Run("tcp-3", "--workers", "3", "--transport", "tcp").Hash);
    }

    [Fact]
    [Trait(TestTiers.Category, TestTiers.Integration)]
    public void A_run_resumed_on_workers_from_a_mid_epoch_checkpoint_ends_with_the_reference_weights()
    {
        string ckpt = _dir.File("ckpt");
        var (whole, _) = Run("checkpointed", "--checkpoint-dir", ckpt, "--checkpoint-every", "8");
        Assert.Equal(ReferenceHashes.Dense, whole);
        var files = Checkpointer.Existing(ckpt).ToList();
        Assert.True(files.Count >= 2, $"{files.Count} checkpoints");
        File.Delete(files[0]); // "crashed" before the newest (the epoch's end): resume mid-epoch, on two workers
        string metrics = _dir.File("resumed.json");
        var (exit, output, err) = CliRunner.Run(["train", "--train-limit", "3200", "--resume", ckpt, "--workers", "2", "--metrics-out", metrics,
            "--out", _dir.File("resumed")]);
        Assert.True(exit == 0, err + output);
        Assert.Contains("resume ", output);
        using var doc = JsonDocument.Parse(File.ReadAllText(metrics));
        Assert.Equal(ReferenceHashes.Dense, doc.RootElement.GetProperty("weights_sha256").GetString());
    }
}

/// <summary>
/// The weights (SHA-256 of the parameter vector) that the runs of <see cref="DeterminismTests"/> end with, recorded on
/// 2026-12-07 before the redesign of issue 13 (commit 3255bbf), and the same on AVX-512 and with DNN_KERNEL=256 or scalar
/// (ReLU and softmax only: the sigmoid's vector exp is the one function whose last bit may depend on the width).
/// Changing one is a deliberate change of the mathematics: its own commit, with its reason.
/// </summary>
internal static class ReferenceHashes
{
    /// <summary>784-64-32-10 ReLU, softmax cross-entropy, momentum 0.05, 3,200 samples, batch 64 in 6 shards, seed 1, 1 epoch.</summary>
    public const string Dense = "fbc0b65cd773bf0bb227e1e10897b097834c0d796b8b731bde178e34f1ad5125";
    /// <summary>The same with bf16 gradient frames.</summary>
    public const string DenseBf16Gradients = "ff5db8f2d67af5215a37b154f979b6a3823f27d5b5cf2f2188229321a5a5a9ba";
    /// <summary>The same with bf16 gradient and weight frames.</summary>
    public const string DenseBf16Frames = "d883ec019023bc5eb721a0cd67a199940677b5952b1ccca8d462a6b771a92534";
    /// <summary>The CNN with dropout and a skip connection, 640 samples, 10 steps.</summary>
    public const string Graph = "d0feabf8e3babfcccc26ae45ff50fe5a99cf169fbdbbf5cb19df72ad046f9cfa";
}
