using System.Text.Json;
using DistributedNN.Serialization;
using DistributedNN.Tests.Cli;

namespace DistributedNN.Tests.Training;

/// <summary>Schedules, clipping and weight-decay groups from the command line: in the checkpoints, so that a run resumed
/// mid-schedule ends bit-identical to the uninterrupted one; and every one of them changes the run.</summary>
public sealed class TrainingRecipeTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    public void Dispose() => _dir.Dispose();

    private string Data()
    {
        string data = _dir.File("data.csv");
        var rng = new Random(5);
        File.WriteAllLines(data, new[] { "a,b,c,label" }.Concat(Enumerable.Range(0, 240).Select(_ =>
        {
            double a = rng.NextDouble(), b = rng.NextDouble(), c = rng.NextDouble();
            return FormattableString.Invariant($"{a:F4},{b:F4},{c:F4},{(a + b > 2 * c ? 1 : 0)}");
        })));
        return data;
    }

    private string Hash(string metrics)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(metrics));
        return doc.RootElement.GetProperty("weights_sha256").GetString()!;
    }

    private string Train(string name, params string[] args)
    {
        string metrics = _dir.File(name + ".json");
        var (exit, output, err) = CliRunner.Run(["train", "--metrics-out", metrics, "--out", _dir.File(name), .. args]);
        Assert.True(exit == 0, $"{name}: {err}\n{output}");
        return Hash(metrics);
    }

    [Theory]
    [InlineData("one-cycle")]
    [InlineData("cosine")]
    [InlineData("step")]
    public void A_run_resumed_mid_schedule_ends_with_the_uninterrupted_runs_weights(string schedule)
    {
        string data = Data();
        string[] run = ["--data", data, "--layers", "3,10,2", "--epochs", "4", "--batch", "16", "--optimizer", "adamw", "--lr", "0.02",
            "--weight-decay", "0.05", "--weight-decay-on", "weights", "--clip-norm", "0.3", "--lr-schedule", schedule, "--label-smoothing", "0.1",
            .. schedule switch { "cosine" => new[] { "--warmup-steps", "5", "--lr-min", "0.001" }, "step" => ["--lr-step-epochs", "1", "--lr-gamma", "0.5"], _ => [] }];
        string ckpt = _dir.File("ckpt");
        string whole = Train("whole", [.. run, "--checkpoint-dir", ckpt, "--checkpoint-every", "9"]);
        var files = Checkpointer.Existing(ckpt).ToList();
        File.Delete(files[0]); // "crashed" before the newest: resume from an earlier one, mid-epoch and mid-schedule
        var (exit, output, err) = CliRunner.Run(["train", "--data", data, "--resume", ckpt, "--metrics-out", _dir.File("resumed.json"), "--out", _dir.File("resumed")]);
        Assert.True(exit == 0, err + output);
        Assert.Contains($"resume  {files[1]}", output);
        Assert.Equal(whole, Hash(_dir.File("resumed.json")));
    }

    [Fact]
    public void Each_setting_changes_the_weights()
    {
        string data = Data();
        string[] run = ["--data", data, "--layers", "3,10,2", "--epochs", "2", "--batch", "16", "--optimizer", "sgd", "--lr", "0.5", "--weight-decay", "0.05"];
        var hashes = new[]
        {
            Train("plain", run),
            Train("cosine", [.. run, "--lr-schedule", "cosine"]),
            Train("warm-up", [.. run, "--warmup-steps", "3"]),
            Train("clip", [.. run, "--clip-norm", "0.05"]),
            Train("weights-only", [.. run, "--weight-decay-on", "weights"]),
            Train("smoothed", [.. run, "--label-smoothing", "0.2"]),
        };
        Assert.Equal(hashes.Length, hashes.Distinct().Count());
    }

    [Theory]
    [InlineData(new[] { "--lr-schedule", "linear" }, "error: --lr-schedule 'linear' is not one of constant, step, cosine, one-cycle")]
    [InlineData(new[] { "--lr-schedule", "step" }, "error: --lr-schedule step needs --lr-step-epochs of at least 1 (got 0)")]
    [InlineData(new[] { "--lr-schedule", "one-cycle", "--warmup-steps", "3" }, "error: --lr-schedule one-cycle warms up by itself: drop --warmup-steps")]
    [InlineData(new[] { "--lr-schedule", "cosine", "--lr", "0.01", "--lr-min", "0.1" }, "error: --lr-min must be at least 0 and below --lr (got 0.1)")]
    [InlineData(new[] { "--clip-norm", "-1" }, "error: --clip-norm must be a positive number, or 0 for none (got -1)")]
    [InlineData(new[] { "--weight-decay-on", "biases" }, "error: --weight-decay-on 'biases' is not one of all, weights")]
    [InlineData(new[] { "--label-smoothing", "1" }, "error: --label-smoothing must be in [0, 1) (got 1)")]
    [InlineData(new[] { "--label-smoothing", "0.1", "--loss", "mse", "--output", "sigmoid" }, "error: --label-smoothing smooths cross-entropy's targets; the network's loss is mse")]
    [InlineData(new[] { "--clip-norm", "1", "--topology", "sharded" }, "error: --clip-norm needs the whole gradient's norm before any update")]
    public void A_bad_recipe_is_a_one_line_error(string[] args, string expected)
    {
        var (exit, _, err) = CliRunner.Run(["train", "--data", Data(), "--layers", "3,4,2", "--out", _dir.File("bad"), .. args]);
        Assert.Equal(1, exit);
        Assert.StartsWith(expected, err.Trim());
        Assert.Single(err.Trim().Split('\n'));
    }

    [Fact]
    public void Augmented_training_resumes_to_the_uninterrupted_weights_and_differs_from_plain()
    {
        string spec = _dir.File("cnn.json");
        File.WriteAllText(spec, """
            { "input": [1, 28, 28], "layers": [ { "type": "conv", "filters": 3, "kernel": 5, "stride": 3, "activation": "identity" },
                { "type": "batchnorm", "activation": "relu" }, { "type": "globalavgpool" }, { "type": "dense", "units": 10 } ] }
            """);
        string[] run = ["--model-spec", spec, "--train-limit", "256", "--epochs", "2", "--batch", "32", "--lr", "0.01", "--lr-schedule", "cosine"];
        string[] augmented = [.. run, "--random-crop", "3", "--random-flip"];
        string ckpt = _dir.File("ckpt");
        string whole = Train("augmented", [.. augmented, "--checkpoint-dir", ckpt, "--checkpoint-every", "5"]);
        Assert.NotEqual(Train("plain", run), whole);
        var files = Checkpointer.Existing(ckpt).ToList();
        File.Delete(files[0]);
        var (exit, output, err) = CliRunner.Run(["train", "--train-limit", "256", "--resume", ckpt, "--metrics-out", _dir.File("resumed.json"), "--out", _dir.File("resumed")]);
        Assert.True(exit == 0, err + output);
        Assert.Equal(whole, Hash(_dir.File("resumed.json")));
    }
}
