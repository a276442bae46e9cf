using System.Text.Json;
using DistributedNN.Model;
using DistributedNN.Serialization;
using DistributedNN.Tests.Cli;
using DistributedNN.Training;

namespace DistributedNN.Tests.Serialization;

public sealed class CheckpointTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    public void Dispose() => _dir.Dispose();

    private static Checkpoint Sample()
    {
        var spec = NetworkSpec.FromSizes([5, 4, 3], Activation.ReLU, Activation.Softmax, LossKind.CrossEntropy);
        var p = new float[spec.ParameterCount];
        Initializer.Initialize(spec, p, InitScheme.He, 2);
        var state = new TrainingState(spec, p, new TrainingSettings(3, 8, 2, 4, true, new OptimizerSettings(OptimizerKind.Adam, 0.01f)), 40);
        var g = Enumerable.Range(0, p.Length).Select(i => (float)Math.Sin(i)).ToArray();
        state.BeginStep();
        state.ApplyStep(g, new BatchStats(1.25, 3, 8));
        var epochs = new[] { new EpochResult(1, 5, 0.5, 0.75, 0.6, 0.7, 1.5, 100, [0.1, 0.2]) };
        return CheckpointFile.Capture(state, "abc123", epochs);
    }

    [Fact]
    public void A_checkpoint_round_trips_everything_a_resume_needs()
    {
        var c = Sample();
        var back = CheckpointFile.Decode(CheckpointFile.Encode(c), "x");
        Assert.Equal(c.Parameters, back.Parameters);
        Assert.Equal(c.Velocity, back.Velocity);
        Assert.Equal(c.SecondMoment, back.SecondMoment);
        Assert.Equal(c.Settings, back.Settings);
        Assert.Equal(c.DataFingerprint, back.DataFingerprint);
        Assert.Equal((c.Progress.Epoch, c.Progress.StepInEpoch, c.Progress.Steps, c.Progress.OptimizerSteps, c.Progress.EpochStats),
            (back.Progress.Epoch, back.Progress.StepInEpoch, back.Progress.Steps, back.Progress.OptimizerSteps, back.Progress.EpochStats));
        Assert.Equal(c.Progress.NormSums, back.Progress.NormSums);
        Assert.Equal(c.Progress.RatioSums, back.Progress.RatioSums);
        Assert.Equal(c.Progress.HealthSums, back.Progress.HealthSums);
        Assert.Equal(JsonSerializer.Serialize(c.Epochs), JsonSerializer.Serialize(back.Epochs));
        Assert.Equal(c.Network.Sizes, back.Network.Sizes);
        var state = CheckpointFile.Restore(back, 40);
        Assert.Equal(1, state.Steps);
        Assert.Equal(1, state.Optimizer.Steps);
    }

    [Fact]
    public void Figures_of_a_diverging_run_that_are_infinite_or_NaN_round_trip()
    {
        var c = Sample();
        c = c with
        {
            Progress = c.Progress with { NormSums = [double.PositiveInfinity, 1.5], RatioSums = [double.NaN, 0.25] },
            Epochs = [new EpochResult(1, 5, 0.5, 0.75, 0.6, 0.7, 1.5, 100, [double.PositiveInfinity, 0.2], [double.NaN, 1e-3], [0, 0])],
        };
        var back = CheckpointFile.Decode(CheckpointFile.Encode(c), "x");
        Assert.Equal(c.Progress.NormSums, back.Progress.NormSums);
        Assert.True(double.IsNaN(back.Progress.RatioSums![0]));
        Assert.Equal(double.PositiveInfinity, back.Epochs[0].GradientNorms[0]);
    }

    [Fact]
    public void Corrupt_truncated_foreign_and_future_checkpoints_are_refused_with_the_reason()
    {
        var bytes = CheckpointFile.Encode(Sample());
        var flipped = (byte[])bytes.Clone();
        flipped[bytes.Length / 2] ^= 1;
        Assert.Equal("c: the checkpoint is truncated or corrupt (checksum mismatch)", Assert.Throws<DataFormatException>(() => CheckpointFile.Decode(flipped, "c")).Message);
        Assert.Contains("truncated or corrupt", Assert.Throws<DataFormatException>(() => CheckpointFile.Decode(bytes[..^40], "c")).Message);
        Assert.Equal("c: not a DistributedNN checkpoint", Assert.Throws<DataFormatException>(() => CheckpointFile.Decode(new byte[] { 1, 2, 3 }, "c")).Message);
        var future = (byte[])bytes.Clone();
        future[8] = 9;
        Assert.Equal("c: checkpoint format version 9 is not supported (this build reads versions 1 and 2)", Assert.Throws<DataFormatException>(() => CheckpointFile.Decode(future, "c")).Message);
        var random = new byte[4096];
        new Random(1).NextBytes(random);
        "DNNCKPT\0\u0001\0\0\0"u8.CopyTo(random);
        Assert.Contains("checksum mismatch", Assert.Throws<DataFormatException>(() => CheckpointFile.Decode(random, "c")).Message);
    }

    [Fact]
    public void A_resumed_run_ends_with_the_weights_of_the_uninterrupted_one()
    {
        string data = Path.Combine(_dir.Path, "data.csv");
        var rng = new Random(2);
        File.WriteAllLines(data, new[] { "a,b,label" }.Concat(Enumerable.Range(0, 300).Select(_ =>
        {
            double a = rng.NextDouble(), b = rng.NextDouble();
            return FormattableString.Invariant($"{a:F4},{b:F4},{(a > b ? 1 : 0)}");
        })));
        string[] run = ["train", "--data", data, "--layers", "2,12,2", "--epochs", "4", "--batch", "16", "--optimizer", "momentum", "--lr", "0.05"];
        string Hash(string metrics)
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(metrics));
            Assert.Equal(4, doc.RootElement.GetProperty("epochs").GetInt32());
            return doc.RootElement.GetProperty("weights_sha256").GetString()!;
        }
        string ckpt = _dir.File("ckpt"), m1 = _dir.File("m1.json"), m2 = _dir.File("m2.json");
        Assert.Equal(0, CliRunner.Run([.. run, "--checkpoint-dir", ckpt, "--checkpoint-every", "7", "--metrics-out", m1]).Exit);
        var files = Checkpointer.Existing(ckpt).ToList();
        Assert.Equal(Checkpointer.Keep, files.Count);
        // the run "crashed" after an earlier checkpoint: the newest is gone, the next one half-written
        File.Delete(files[0]);
        File.WriteAllBytes(files[1], File.ReadAllBytes(files[1])[..100]);
        var (exit, output, err) = CliRunner.Run(["train", "--data", data, "--resume", ckpt, "--metrics-out", m2]);
        Assert.True(exit == 0, err + output);
        Assert.Contains($"warning: skipping checkpoint {files[1]}: the checkpoint is truncated or corrupt", err);
        Assert.Contains($"resume  {files[2]}", output);
        Assert.Equal(Hash(m1), Hash(m2));

        (exit, _, err) = CliRunner.Run(["train", "--data", data, "--train-limit", "100", "--resume", ckpt]);
        Assert.Equal(1, exit);
        Assert.Contains("the data differs from the checkpointed run's", err);
        (exit, _, err) = CliRunner.Run(["train", "--data", data, "--resume", _dir.File("nothing")]);
        Assert.Equal(1, exit);
        Assert.Equal($"error: --resume {_dir.File("nothing")}: no such directory", err.TrimEnd());
    }

    [Fact]
    public void A_graph_network_with_dropout_resumes_to_the_weights_of_the_uninterrupted_run()
    {
        // a convolution, a skip connection and dropout: the checkpoint carries the spec, the resumed steps draw the same masks
        string spec = _dir.File("net.yaml");
        File.WriteAllText(spec, """
            input: [1, 28, 28]
            layers:
              - { type: conv, filters: 4, kernel: 5, stride: 3 }
              - { type: dense, units: 16, name: h }
              - { type: dropout, rate: 0.3 }
              - { type: dense, units: 16, activation: identity, name: r }
              - { type: add, from: [h, r], activation: relu }
              - { type: dense, units: 10 }
            """);
        string[] run = ["train", "--model-spec", spec, "--train-limit", "320", "--epochs", "3", "--batch", "32", "--optimizer", "adam", "--lr", "0.003"];
        string Hash(string metrics)
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(metrics));
            return doc.RootElement.GetProperty("weights_sha256").GetString()!;
        }
        string ckpt = _dir.File("graph-ckpt"), m1 = _dir.File("g1.json"), m2 = _dir.File("g2.json");
        var (exit, output, err) = CliRunner.Run([.. run, "--checkpoint-dir", ckpt, "--checkpoint-every", "4", "--metrics-out", m1, "--out", _dir.File("r1")]);
        Assert.True(exit == 0, err + output);
        var files = Checkpointer.Existing(ckpt).ToList();
        File.Delete(files[0]); // "crashed" before the newest checkpoint: resume from an earlier one, mid-epoch
        (exit, output, err) = CliRunner.Run(["train", "--train-limit", "320", "--resume", ckpt, "--metrics-out", m2, "--out", _dir.File("r2")]);
        Assert.True(exit == 0, err + output);
        Assert.Contains("conv 5×5×4/3", output);
        Assert.Equal(Hash(m1), Hash(m2));
    }
}
