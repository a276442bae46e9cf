using System.Globalization;
using System.Text.Json;
using DistributedNN.Configuration;
using DistributedNN.Coordinator.Cli;
using DistributedNN.Serialization;

namespace DistributedNN.Tests.Cli;

/// <summary>
/// `dnn train --validation-fraction F --early-stopping N` in one process, on Fashion-MNIST: the one-line errors, what a run
/// that stops says and leaves (the kept epoch's weights in the model, validation columns in epochs.csv and metrics.json),
/// the options from --config, DNN_* and a model spec's training section, and a run resumed after its best epoch.
/// </summary>
public sealed class EarlyStoppingCliTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    public void Dispose() => _dir.Dispose();

    /// <summary>A run that overfits 1,600 samples within a few epochs: it stops well before its 12.</summary>
    internal static readonly string[] Stopping = ["--train-limit", "2000", "--layers", "784,64,10", "--lr", "0.01", "--epochs", "12", "--batch", "32",
        "--validation-fraction", "0.2", "--early-stopping", "2"];

    private (string Output, JsonElement Metrics) Train(string name, params string[] args)
    {
        string metrics = _dir.File(name + ".json");
        var (exit, output, err) = CliRunner.Run(["train", "--metrics-out", metrics, "--out", _dir.File(name), .. args]);
        Assert.True(exit == 0, $"{name}: exit {exit}\n{err}\n{output}");
        return (output, JsonDocument.Parse(File.ReadAllText(metrics)).RootElement.Clone());
    }

    [Theory]
    [InlineData(new[] { "--early-stopping", "3" }, "error: --early-stopping watches the validation loss: give --validation-fraction too (e.g. --validation-fraction 0.1)")]
    [InlineData(new[] { "--validation-fraction", "1" }, "error: --validation-fraction must be greater than 0 and less than 1, or 0 for none (got 1)")]
    [InlineData(new[] { "--validation-fraction", "-0.1" }, "error: --validation-fraction must be greater than 0 and less than 1, or 0 for none (got -0.1)")]
    [InlineData(new[] { "--validation-fraction", "0.1", "--early-stopping", "-2" }, "error: --early-stopping must be a number of epochs of at least 1, or 0 for none (got -2)")]
    [InlineData(new[] { "--validation-fraction", "0.5", "--train-limit", "1" }, "error: fashion-mnist train: 1 sample(s) are too few to hold out a validation set (--validation-fraction)")]
    public void A_bad_validation_or_early_stopping_option_is_a_one_line_error(string[] args, string expected)
    {
        var (exit, output, err) = CliRunner.Run(["train", "--layers", "784,10", "--epochs", "1", "--out", _dir.File("bad"), .. args]);
        Assert.Equal(1, exit);
        Assert.Equal(expected, err.Trim());
        Assert.DoesNotContain("epoch 1/", output);
    }

    [Fact]
    public void A_run_that_stops_early_says_where_and_its_model_holds_the_best_epochs_weights()
    {
        string model = _dir.File("model.dnn");
        var (output, m) = Train("stop", [.. Stopping, "--save", model, "--progress", "plain"]);
        Assert.Contains("data    /usr/share/datasets/fashion-mnist: 1600 training, 400 validation, 10000 test samples", output);
        Assert.Contains("(early stopping after 2 epoch(s) without a lower validation loss)", output);

        var perEpoch = m.GetProperty("per_epoch").EnumerateArray().ToList();
        var losses = perEpoch.Select(e => e.GetProperty("validation_loss").GetDouble()).ToList();
        int best = losses.IndexOf(losses.Min()) + 1, last = perEpoch.Count;
        Assert.True(last < 12, $"the run should stop early: {string.Join(", ", losses)}");
        Assert.Equal(best + 2, last);
        var kept = perEpoch[best - 1];
        var inv = CultureInfo.InvariantCulture;
        Assert.Contains($"early stopping: stopped after epoch {last} of 12: no lower validation loss in 2 epoch(s); kept the weights of epoch {best} " +
            $"(val_loss {losses[best - 1].ToString("F4", inv)}, val_acc {kept.GetProperty("validation_accuracy").GetDouble().ToString("P2", inv)}, " +
            $"test_acc {kept.GetProperty("test_accuracy").GetDouble().ToString("P2", inv)})", output);
        Assert.Contains($"epoch {last}/12  loss ", output);
        Assert.Contains("  val_loss ", output);

        // metrics.json: the model's figures are the kept epoch's
        var stopping = m.GetProperty("early_stopping");
        Assert.Equal(best, stopping.GetProperty("best_epoch").GetInt32());
        Assert.Equal(best, stopping.GetProperty("weights_of_epoch").GetInt32());
        Assert.True(stopping.GetProperty("stopped_early").GetBoolean());
        Assert.Equal(2, stopping.GetProperty("patience").GetInt32());
        Assert.Equal(kept.GetProperty("test_accuracy").GetDouble(), m.GetProperty("test_accuracy").GetDouble());
        Assert.Equal(losses[best - 1], m.GetProperty("validation_loss").GetDouble());
        Assert.Equal(last, m.GetProperty("epochs").GetInt32());

        // the saved model measures what the kept epoch measured
        var (exit, evaluated, err) = CliRunner.Run("evaluate", model);
        Assert.True(exit == 0, err);
        Assert.Contains($"test_loss {kept.GetProperty("test_loss").GetDouble().ToString("F4", inv)}  test_acc {kept.GetProperty("test_accuracy").GetDouble().ToString("P2", inv)}", evaluated);

        // epochs.csv: the validation columns after the training ones
        var csv = File.ReadAllLines(Path.Combine(_dir.File("stop"), "epochs.csv"));
        Assert.StartsWith("epoch,steps,train_loss,train_accuracy,validation_loss,validation_accuracy,test_loss,test_accuracy,", csv[0]);
        Assert.Equal(last + 1, csv.Length);
        Assert.Equal(losses[best - 1], double.Parse(csv[best].Split(',')[4], inv));
    }

    [Fact]
    public void A_validation_split_alone_trains_every_epoch_on_the_rest_and_keeps_the_last_weights()
    {
        string[] run = ["--train-limit", "1000", "--layers", "784,32,10", "--epochs", "2", "--batch", "50"];
        var (plainOutput, plain) = Train("plain", run);
        var (output, held) = Train("held", [.. run, "--validation-fraction", "0.1"]);
        Assert.Contains("900 training, 100 validation, 10000 test samples", output);
        Assert.DoesNotContain("early stopping", output);
        Assert.DoesNotContain("val_loss", plainOutput);
        Assert.Equal(2, held.GetProperty("epochs").GetInt32());
        Assert.Equal(36, held.GetProperty("steps").GetInt32()); // 900 samples in batches of 50, twice
        Assert.NotEqual(plain.GetProperty("weights_sha256").GetString(), held.GetProperty("weights_sha256").GetString());
        var lastEpoch = held.GetProperty("per_epoch")[1];
        Assert.Equal(lastEpoch.GetProperty("test_accuracy").GetDouble(), held.GetProperty("test_accuracy").GetDouble());
        Assert.True(lastEpoch.GetProperty("validation_accuracy").GetDouble() > 0.5);
        Assert.False(held.TryGetProperty("early_stopping", out _));
        Assert.False(plain.TryGetProperty("validation_loss", out _));
        Assert.False(plain.GetProperty("per_epoch")[1].TryGetProperty("validation_loss", out _));
    }

    [Fact]
    public void The_options_come_from_the_environment_a_config_file_and_a_model_specs_training_section()
    {
        var train = TrainCommand.Create(TextWriter.Null, TextWriter.Null);
        string config = _dir.File("config.json");
        File.WriteAllText(config, """{ "validation-fraction": 0.3, "early-stopping": 5 }""");
        var parse = train.Parse(ConfigArguments.Expand(["--config", config], train, key => key == "DNN_EARLY_STOPPING" ? "4" : null));
        Assert.Empty(parse.Errors);
        Assert.Equal(4, parse.GetValue<int>("--early-stopping"));
        Assert.Equal(0.3, parse.GetValue<double>("--validation-fraction"));

        string spec = _dir.File("net.json");
        File.WriteAllText(spec, """
            { "input": 784, "layers": [ { "type": "dense", "units": 32 }, { "type": "dense", "units": 10 } ],
              "training": { "epochs": 1, "batch": 50, "validation-fraction": 0.25, "early-stopping": 3 } }
            """);
        var (output, m) = Train("spec", "--model-spec", spec, "--train-limit", "400");
        Assert.Contains("300 training, 100 validation", output);
        Assert.Contains("early stopping after 3 epoch(s)", output);
        Assert.Equal(3, m.GetProperty("early_stopping").GetProperty("patience").GetInt32());
        Assert.False(m.GetProperty("early_stopping").GetProperty("stopped_early").GetBoolean());
    }

    [Fact]
    public void A_run_resumed_after_its_best_epoch_stops_where_the_uninterrupted_run_did_with_its_weights()
    {
        string ckpt = _dir.File("ckpt");
        var (_, whole) = Train("whole", [.. Stopping, "--checkpoint-dir", ckpt, "--checkpoint-every", "20"]);
        int best = whole.GetProperty("early_stopping").GetProperty("best_epoch").GetInt32();
        // "crashed" just before the end: the newest checkpoint left is mid-way through the last epoch, after the best one
        var files = Checkpointer.Existing(ckpt).ToList();
        File.Delete(files[0]);
        var from = CheckpointFile.Load(files[1]);
        Assert.Equal(best, from.Progress.EarlyStopping!.BestEpoch);
        Assert.True(from.Progress.EarlyStopping.EpochsSinceBest > 0);
        Assert.NotEqual(from.Parameters, from.BestParameters); // the kept weights can only come from the checkpoint

        var (output, resumed) = Train("resumed", "--train-limit", "2000", "--resume", ckpt);
        Assert.Contains($"resume  {files[1]}", output);
        Assert.Contains($"kept the weights of epoch {best} ", output);
        Assert.Equal(whole.GetProperty("weights_sha256").GetString(), resumed.GetProperty("weights_sha256").GetString());
        Assert.Equal(whole.GetProperty("epochs").GetInt32(), resumed.GetProperty("epochs").GetInt32());
        Assert.Equal(whole.GetProperty("early_stopping").GetRawText(), resumed.GetProperty("early_stopping").GetRawText());
    }
}
