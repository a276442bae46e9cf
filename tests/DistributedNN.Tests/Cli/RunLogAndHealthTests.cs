using System.Text.Json;
using DistributedNN.Tests.Distributed;

namespace DistributedNN.Tests.Cli;

/// <summary>
/// The run folder's log file (text and JSON lines) and the training-health figures: the same per-step health
/// columns in one process and on a cluster, per-worker compute figures for a cluster run.
/// </summary>
public sealed class RunLogAndHealthTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static readonly string[] Training = ["train", "--data", TestData.Csv, "--layers", "4,16,8,2", "--epochs", "2", "--batch", "32", "--optimizer", "sgd", "--lr", "0.1"];

    [Fact]
    public void The_run_folder_has_a_text_log_of_the_run()
    {
        string run = _dir.File("text");
        var (exit, output, err) = CliRunner.Run([.. Training, "--out", run]);
        Assert.True(exit == 0, err);
        Assert.Contains("train.log", output);
        string log = File.ReadAllText(Path.Combine(run, "train.log"));
        Assert.Contains($"run folder {run}", log); // this run's first line
        Assert.Matches(@"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} [+-]\d\d:\d\d INF \[coordinator\] Epoch 2/2: loss", log);
        Assert.Contains("Finished: test accuracy", log);
    }

    [Fact]
    [Trait(TestTiers.Category, TestTiers.Integration)]
    public void With_log_format_json_the_log_is_one_json_event_per_line_and_a_cluster_run_names_each_workers_compute()
    {
        string run = _dir.File("json");
        var (exit, output, err) = CliRunner.Run([.. Training, "--workers", "2", "--out", run, "--log-format", "json"]);
        Assert.True(exit == 0, err);
        Assert.Contains("workers.csv, train.jsonl", output);
        Assert.False(File.Exists(Path.Combine(run, "train.log")));
        var events = File.ReadAllLines(Path.Combine(run, "train.jsonl")).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.All(events, e =>
        {
            Assert.True(DateTimeOffset.TryParse(e.GetProperty("@t").GetString(), out _));
            Assert.False(string.IsNullOrEmpty(e.GetProperty("@mt").GetString()));
            Assert.False(string.IsNullOrEmpty(e.GetProperty("Line").GetString())); // the message as text
        });
        Assert.Contains(events, e => e.GetProperty("@mt").GetString()!.StartsWith("Training {Network}") && e.GetProperty("RunFolder").GetString() == run);
        // other tests' runs share this process's log files: this run's own events carry its folder
        var epoch = events.Last(e => e.GetProperty("@mt").GetString()!.StartsWith("Epoch {Epoch}/{Epochs}:")
            && e.TryGetProperty("RunFolder", out var folder) && folder.GetString() == run);
        Assert.Equal(3, epoch.GetProperty("GradientNorms").GetArrayLength()); // structured, not only text
        // the coordinator's per-worker figures, as events and in workers.csv and metrics.json
        Assert.Contains(events, e => e.GetProperty("@mt").GetString()!.Contains("computed {Shards} shards"));
        var csv = File.ReadAllLines(Path.Combine(run, "workers.csv"));
        Assert.Equal("epoch,worker,shards,compute_ms_per_shard,compute_ms_max,slow", csv[0]);
        using var metrics = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "metrics.json")));
        long steps = metrics.RootElement.GetProperty("steps").GetInt64();
        var perWorker = metrics.RootElement.GetProperty("worker_stats").EnumerateArray().ToArray();
        Assert.Equal(steps * 4, perWorker.Sum(w => w.GetProperty("shards").GetInt32())); // every shard of every step, once
        Assert.Equal(steps * 4, csv.Skip(1).Sum(l => int.Parse(l.Split(',')[2])));
        Assert.All(perWorker, w => Assert.True(w.GetProperty("compute_ms_per_shard").GetDouble() > 0));
    }

    [Fact]
    [Trait(TestTiers.Category, TestTiers.Integration)]
    public void Health_figures_per_step_are_the_same_in_one_process_and_on_a_cluster()
    {
        string single = _dir.File("single"), cluster = _dir.File("cluster");
        string[] sigmoid = [.. Training, "--activation", "sigmoid"];
        var (exit, _, err) = CliRunner.Run([.. sigmoid, "--out", single]);
        Assert.True(exit == 0, err);
        (exit, _, err) = CliRunner.Run([.. sigmoid, "--workers", "2", "--out", cluster]);
        Assert.True(exit == 0, err);
        var a = File.ReadAllLines(Path.Combine(single, "steps.csv"));
        var b = File.ReadAllLines(Path.Combine(cluster, "steps.csv"));
        Assert.Equal("step,epoch,loss,accuracy,samples,grad_norm_layer1,grad_norm_layer2,grad_norm_layer3," +
            "update_ratio_layer1,update_ratio_layer2,update_ratio_layer3,saturated_layer1,saturated_layer2", a[0]);
        Assert.Equal(a, b); // gradient norms, update ratios and saturation counts: bit for bit
        var ratios = a.Skip(1).Select(l => double.Parse(l.Split(',')[8], System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        Assert.All(ratios, r => Assert.InRange(r, 1e-7, 1)); // measured, not left at zero
    }

    [Fact]
    public void A_bad_log_format_is_a_one_line_error()
    {
        var (exit, _, err) = CliRunner.Run([.. Training, "--log-format", "xml", "--out", _dir.File("bad")]);
        Assert.Equal(1, exit);
        Assert.Equal("error: --log-format 'xml' is not one of text, json", err.Trim());
    }
}
