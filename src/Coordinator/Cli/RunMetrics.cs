using System.Text.Json;
using DistributedNN.Model;
using DistributedNN.Serialization;
using DistributedNN.Training;

namespace DistributedNN.Coordinator.Cli;

/// <summary>The `--metrics-out` JSON summary of a training run.</summary>
internal static class RunMetrics
{
    public static void Write(string path, NetworkSpec spec, TrainingSettings settings, IReadOnlyList<EpochResult> epochs, long steps, RunFacts facts)
    {
        var last = facts.KeptEpoch(epochs); // the model's own figures: early stopping keeps its best epoch's weights
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
            ["health_warnings"] = (facts.Health ?? []).Select(w => new Dictionary<string, object>
            {
                ["kind"] = w.Kind, ["layer"] = w.Layer, ["epoch"] = w.Epoch, ["message"] = w.Message,
            }).ToArray(),
            // per worker over the run: shards, compute milliseconds per shard, epochs in which it was the slow one
            ["worker_stats"] = (facts.WorkerStats ?? []).GroupBy(w => w.Worker).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => new Dictionary<string, object>
            {
                ["worker"] = g.Key,
                ["shards"] = g.Sum(w => w.Shards),
                ["compute_ms_per_shard"] = g.Sum(w => w.MeanMs * w.Shards) / System.Math.Max(1, g.Sum(w => w.Shards)),
                ["slow_epochs"] = g.Where(w => w.Slow).Select(w => w.Epoch).ToArray(),
            }).ToArray(),
            ["per_epoch"] = epochs.Select(e => PerEpoch(spec, e)).ToArray(),
        };
        AddValidation(summary, settings, epochs, facts);
        AddSecurity(summary, facts);
        AtomicFile.Write(path, JsonSerializer.SerializeToUtf8Bytes(summary, new JsonSerializerOptions { WriteIndented = true, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals }));
    }

    private static Dictionary<string, object?> PerEpoch(NetworkSpec spec, EpochResult e)
    {
        var epoch = new Dictionary<string, object?>
        {
            ["epoch"] = e.Epoch,
            ["train_loss"] = e.TrainLoss,
            ["train_accuracy"] = e.TrainAccuracy,
            ["test_loss"] = e.TestLoss,
            ["test_accuracy"] = e.TestAccuracy,
            ["samples_per_second"] = e.SamplesPerSecond,
            ["train_seconds"] = e.TrainSeconds,
            ["gradient_norms"] = e.GradientNorms,
            ["update_ratios"] = e.UpdateRatios ?? new double[e.GradientNorms.Length],
            // per layer: dead ReLU fraction, saturated sigmoid/tanh fraction, or null (no such signal)
            ["activation_health"] = spec.Layers.Select((layer, l) => ActivationHealth.Signal(layer.Activation) == HealthSignal.None ? null
                : new Dictionary<string, object> { [ActivationHealth.Name(ActivationHealth.Signal(layer.Activation))!] = e.Health?[l] ?? 0 }).ToArray(),
        };
        if (e.ValidationLoss is { } loss)
        {
            epoch["validation_loss"] = loss;
            epoch["validation_accuracy"] = e.ValidationAccuracy;
        }
        return epoch;
    }

    /// <summary>The validation split's figures for the kept epoch, and where early stopping ended (the epoch whose weights the model holds).</summary>
    private static void AddValidation(Dictionary<string, object> summary, TrainingSettings settings, IReadOnlyList<EpochResult> epochs, RunFacts facts)
    {
        if (settings.ValidationFraction <= 0) return;
        var kept = facts.KeptEpoch(epochs);
        summary["validation_fraction"] = settings.ValidationFraction;
        summary["validation_loss"] = kept.ValidationLoss!;
        summary["validation_accuracy"] = kept.ValidationAccuracy!;
        if (facts.EarlyStopping is not { } stopping) return;
        summary["early_stopping"] = new Dictionary<string, object>
        {
            ["patience"] = settings.EarlyStoppingPatience,
            ["best_epoch"] = stopping.BestEpoch,
            ["best_validation_loss"] = stopping.BestLoss,
            ["epochs_since_best"] = stopping.EpochsSinceBest,
            ["stopped_early"] = epochs[^1].Epoch < settings.Epochs,
            ["weights_of_epoch"] = kept.Epoch,
        };
    }

    /// <summary>How a cluster run was protected, and the warning an --insecure run carries; what --verify-fraction checked.</summary>
    private static void AddSecurity(Dictionary<string, object> summary, RunFacts facts)
    {
        if (facts.Verification is { } v) summary["verification"] = Verification(v);
        if (facts.Security is not { } security) return;
        summary["security"] = security;
        if (security == "insecure") summary["security_warning"] = DistributedNN.Security.NodeSecurity.InsecureWarning;
    }

    /// <summary>--verify-fraction's figures; the key, with the seed, gives back which shards were checked.</summary>
    private static Dictionary<string, object> Verification(Coordinator.VerificationCounts v) => new()
    {
        ["fraction"] = v.Fraction, ["shards_verified"] = v.ShardsVerified, ["mismatches"] = v.Mismatches, ["quarantined"] = v.Quarantined,
        ["key"] = v.Key.ToString("x16", System.Globalization.CultureInfo.InvariantCulture),
    };
}
