using System.Text.Json;
using DistributedNN.Model;
using DistributedNN.Serialization;
using DistributedNN.Training;

namespace DistributedNN.Coordinator.Cli;

/// <summary>The `--metrics-out` JSON summary of a training run.</summary>
/// <summary>How a run was carried out: mode, workers, tensor payload bytes, and the final weights' hash.</summary>
internal sealed record RunFacts(string Mode, int Workers, long BytesSent, long BytesReceived, string WeightsSha256, string GradientFormat = "fp32", string WeightFormat = "fp32");

internal static class RunMetrics
{
    public static void Write(string path, NetworkSpec spec, TrainingSettings settings, IReadOnlyList<EpochResult> epochs, long steps, RunFacts facts)
    {
        var last = epochs[^1];
        double seconds = epochs.Sum(e => e.TrainSeconds);
        double samples = epochs.Sum(e => e.SamplesPerSecond * e.TrainSeconds);
        var summary = new Dictionary<string, object>
        {
            ["test_accuracy"] = last.TestAccuracy,
            ["test_loss"] = last.TestLoss,
            ["train_loss"] = last.TrainLoss,
            ["train_accuracy"] = last.TrainAccuracy,
            ["epochs"] = epochs.Count,
            ["steps"] = steps,
            ["samples_per_second"] = seconds > 0 ? samples / seconds : 0,
            ["train_seconds"] = seconds,
            ["parameters"] = spec.ParameterCount,
            ["network"] = spec.Describe(),
            ["optimizer"] = OptimizerSettings.Name(settings.Optimizer.Kind),
            ["learning_rate"] = settings.Optimizer.LearningRate,
            ["batch"] = settings.BatchSize,
            ["shards"] = settings.Shards,
            ["seed"] = settings.Seed,
            ["mode"] = facts.Mode,
            ["workers"] = facts.Workers,
            ["bytes_sent"] = facts.BytesSent,
            ["bytes_received"] = facts.BytesReceived,
            ["weights_sha256"] = facts.WeightsSha256,
            ["gradient_format"] = facts.GradientFormat,
            ["weight_format"] = facts.WeightFormat,
            ["per_epoch"] = epochs.Select(e => new Dictionary<string, object>
            {
                ["epoch"] = e.Epoch,
                ["train_loss"] = e.TrainLoss,
                ["train_accuracy"] = e.TrainAccuracy,
                ["test_loss"] = e.TestLoss,
                ["test_accuracy"] = e.TestAccuracy,
                ["samples_per_second"] = e.SamplesPerSecond,
                ["train_seconds"] = e.TrainSeconds,
                ["gradient_norms"] = e.GradientNorms,
            }).ToArray(),
        };
        AtomicFile.Write(path, JsonSerializer.SerializeToUtf8Bytes(summary, new JsonSerializerOptions { WriteIndented = true }));
    }
}
