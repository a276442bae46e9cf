using System.Text.Json;
using DistributedNN.Serialization;
using DistributedNN.Tests.Cli;

namespace DistributedNN.Tests.Distributed;

/// <summary>
/// Early stopping on workers: they train on the training set less the validation samples (the split is in the job's data
/// request), the coordinator measures the validation set on its whole weights after every epoch, as one process does — so
/// the run stops at the same epoch and keeps the same weights, star or sharded, resumed or not, in processes too.
/// </summary>
public sealed class EarlyStoppingWorkersTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    public void Dispose() => _dir.Dispose();

    private (string Hash, JsonElement Metrics) Train(string name, params string[] args)
    {
        string metrics = _dir.File(name + ".json");
        var (exit, output, err) = CliRunner.Run(["train", "--metrics-out", metrics, "--out", _dir.File(name), .. args]);
        Assert.True(exit == 0, $"{name}: exit {exit}\n{err}\n{output}");
        var root = JsonDocument.Parse(File.ReadAllText(metrics)).RootElement.Clone();
        return (root.GetProperty("weights_sha256").GetString()!, root);
    }

    private static string StopOf(JsonElement metrics) => metrics.GetProperty("early_stopping").GetRawText();

    [Fact]
    [Trait(TestTiers.Category, TestTiers.Integration)]
    public void One_process_and_workers_stop_at_the_same_epoch_with_the_same_weights()
    {
        var (single, m) = Train("single", EarlyStoppingCliTests.Stopping);
        Assert.True(m.GetProperty("early_stopping").GetProperty("stopped_early").GetBoolean());
        var (workers, wm) = Train("workers-2", [.. EarlyStoppingCliTests.Stopping, "--workers", "2"]);
        Assert.Equal(single, workers);
        Assert.Equal(StopOf(m), StopOf(wm));
        Assert.Equal(m.GetProperty("steps").GetInt32(), wm.GetProperty("steps").GetInt32());
        // the per-epoch validation figures are the same numbers, not only the same decision
        Assert.Equal(m.GetProperty("per_epoch").EnumerateArray().Select(e => e.GetProperty("validation_loss").GetDouble()),
            wm.GetProperty("per_epoch").EnumerateArray().Select(e => e.GetProperty("validation_loss").GetDouble()));
        var (sharded, sm) = Train("sharded-3", [.. EarlyStoppingCliTests.Stopping, "--workers", "3", "--transport", "tcp", "--topology", "sharded"]);
        Assert.Equal(single, sharded);
        Assert.Equal(StopOf(m), StopOf(sm));
    }

    [Fact]
    [Trait(TestTiers.Category, TestTiers.Integration)]
    public void Workers_resumed_after_the_best_epoch_end_with_the_uninterrupted_runs_weights()
    {
        string ckpt = _dir.File("ckpt");
        var (whole, m) = Train("whole", [.. EarlyStoppingCliTests.Stopping, "--workers", "2", "--checkpoint-dir", ckpt, "--checkpoint-every", "20"]);
        var files = Checkpointer.Existing(ckpt).ToList();
        File.Delete(files[0]);
        Assert.True(CheckpointFile.Load(files[1]).Progress.EarlyStopping!.EpochsSinceBest > 0);
        var (resumed, rm) = Train("resumed", "--train-limit", "2000", "--resume", ckpt, "--workers", "2");
        Assert.Equal(whole, resumed);
        Assert.Equal(StopOf(m), StopOf(rm));
    }

    [Fact]
    [Trait(TestTiers.Category, TestTiers.EndToEnd)]
    public void Worker_processes_stop_at_the_same_epoch_with_the_same_weights()
    {
        var (single, m) = Train("single", EarlyStoppingCliTests.Stopping);
        var (processes, pm) = Train("processes", [.. EarlyStoppingCliTests.Stopping, "--spawn-workers", "2"]);
        Assert.Equal(single, processes);
        Assert.Equal(StopOf(m), StopOf(pm));
    }
}
