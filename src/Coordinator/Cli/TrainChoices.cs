using DistributedNN.Model;
using DistributedNN.Training;

namespace DistributedNN.Coordinator.Cli;

/// <summary>
/// What the names given to `dnn train` stand for (activations, loss, optimizer, initialisation), once every check
/// that needs no data has passed: a bad value must stop the run before it spends seconds loading the data.
/// </summary>
/// <param name="Output">the output layer's activation: --output, else softmax for cross-entropy and sigmoid otherwise</param>
internal sealed record TrainChoices(Activation Hidden, LossKind Loss, Activation Output, OptimizerKind Optimizer, InitScheme Scheme, ScheduleKind Schedule)
{
    /// <exception cref="UserErrorException">An unknown name, a number out of range, or options that exclude each other.</exception>
    public static TrainChoices Check(TrainRequest r)
    {
        if (!Activations.TryParse(r.Activation, out var hidden) || hidden == Activation.Softmax)
            throw new UserErrorException($"--activation '{r.Activation}' is not one of {Activations.HiddenNames}");
        if (!Losses.TryParse(r.Loss, out var loss))
            throw new UserErrorException($"--loss '{r.Loss}' is not one of ce, sse, mse");
        var output = loss == LossKind.CrossEntropy ? Activation.Softmax : Activation.Sigmoid;
        if (r.Output is not null && !Activations.TryParse(r.Output, out output))
            throw new UserErrorException($"--output '{r.Output}' is not one of softmax, sigmoid, identity, tanh, relu");
        if (!OptimizerSettings.TryParseKind(r.Optimizer, out var kind))
            throw new UserErrorException($"--optimizer '{r.Optimizer}' is not one of sgd, momentum, nesterov, adam, adamw");
        if (!Initializer.TryParse(r.InitScheme, out var scheme))
            throw new UserErrorException($"--init-scheme '{r.InitScheme}' is not one of auto, xavier, he, pytorch");
        if (!LearningRateSchedule.TryParse(r.LrSchedule, out var schedule))
            throw new UserErrorException($"--lr-schedule '{r.LrSchedule}' is not one of constant, step, cosine, one-cycle");
        if (r.WeightDecayOn is not ("all" or "weights"))
            throw new UserErrorException($"--weight-decay-on '{r.WeightDecayOn}' is not one of all, weights");
        CheckNumbers(r);
        CheckCombinations(r);
        return new TrainChoices(hidden, loss, output, kind, scheme, schedule);
    }

    /// <summary>The optimizer's settings (its default learning rate unless --lr is given) and the run's, checked.</summary>
    public TrainingSettings Settings(TrainRequest r)
    {
        float lrValue = r.LearningRate ?? (Optimizer is OptimizerKind.Adam or OptimizerKind.AdamW ? 0.001f : 0.05f);
        var schedule = Schedule == ScheduleKind.Constant && r.WarmupSteps == 0 ? null
            : new LearningRateSchedule(Schedule, r.WarmupSteps, r.LrStepEpochs, r.LrGamma, r.LrMin);
        var optimizer = new OptimizerSettings(Optimizer, lrValue, Momentum: r.Momentum, WeightDecay: r.WeightDecay, Schedule: schedule,
            DecayBiases: r.WeightDecayOn == "all");
        optimizer.Validate();
        int shards = r.Shards ?? System.Math.Min(4, r.Batch);
        var augment = r.RandomCrop == 0 && !r.RandomFlip ? null : new Augmentation(r.RandomCrop, r.RandomFlip);
        var settings = new TrainingSettings(r.Epochs, r.Batch, shards, (ulong)r.Seed, r.Shuffle, optimizer, r.ClipNorm, augment, r.LabelSmoothing,
            r.ValidationFraction, r.EarlyStopping);
        settings.Validate();
        return settings;
    }

    private static void CheckNumbers(TrainRequest r)
    {
        if (r.Batch <= 0) throw new UserErrorException($"--batch must be at least 1 (got {r.Batch})");
        if (r.Epochs < 0) throw new UserErrorException($"--epochs must be zero or more (got {r.Epochs}; 0 saves the initialised model)");
        if (r.Epochs == 0 && r.Resume is not null) throw new UserErrorException("--epochs 0 saves an initialised model; a resumed run takes its epochs from the checkpoint");
        if (r.Seed < 0) throw new UserErrorException($"--seed must be zero or positive (got {r.Seed})");
        if (r.TrainLimit is <= 0) throw new UserErrorException($"--train-limit must be at least 1 (got {r.TrainLimit})");
        if (!(r.TestFraction > 0 && r.TestFraction < 1)) throw new UserErrorException($"--test-fraction must be between 0 and 1 (got {r.TestFraction})");
        if (r.Threads < 1) throw new UserErrorException($"--threads must be at least 1 (got {r.Threads})");
        if (r.Workers < 0) throw new UserErrorException($"--workers must be zero or more (got {r.Workers})");
        if (r.SpawnWorkers < 0) throw new UserErrorException($"--spawn-workers must be zero or more (got {r.SpawnWorkers})");
        if (r.MinWorkers is < 1) throw new UserErrorException($"--min-workers must be at least 1 (got {r.MinWorkers})");
        if (r.Port is < 0 or > 65535) throw new UserErrorException($"--port must be between 0 and 65535 (got {r.Port})");
        if (!(r.StepTimeoutSeconds > 0)) throw new UserErrorException($"--step-timeout must be a positive number of seconds (got {r.StepTimeoutSeconds})");
        if (!(r.WorkerWaitSeconds > 0)) throw new UserErrorException($"--worker-wait must be a positive number of seconds (got {r.WorkerWaitSeconds})");
        if (!(r.StartTimeoutSeconds > 0)) throw new UserErrorException($"--start-timeout must be a positive number of seconds (got {r.StartTimeoutSeconds})");
        if (!(r.VerifyFraction is >= 0 and <= 1)) throw new UserErrorException($"--verify-fraction must be between 0 and 1 (got {r.VerifyFraction})");
        if (r.CheckpointEvery < 0) throw new UserErrorException($"--checkpoint-every must be zero or more (got {r.CheckpointEvery})");
    }

    private static void CheckCombinations(TrainRequest r)
    {
        if (r.ModelSpec is not null && r.ArchitectureOptionsGiven.Length > 0)
            throw new UserErrorException($"--model-spec describes the whole network; drop {string.Join(", ", r.ArchitectureOptionsGiven)} (the spec's \"loss\" and \"activation\" keys set those)");
        if (r.ModelSpec is not null && r.Resume is not null)
            throw new UserErrorException("--resume continues the checkpointed network; drop --model-spec");
        if (r.VerifyFraction > 0 && !r.Distributed)
            throw new UserErrorException("--verify-fraction checks the workers' results: give --workers, --spawn-workers or --min-workers too");
        if (r.Tls is not null && !r.Distributed)
            throw new UserErrorException("--tls-cert secures a cluster: give --workers, --spawn-workers or --min-workers too");
        if (r.ClipNorm > 0 && r.Topology.Trim().Equals("sharded", StringComparison.OrdinalIgnoreCase))
            throw new UserErrorException("--clip-norm needs the whole gradient's norm before any update, which the sharded topology's slice owners do not have: use --topology star (or auto)");
        if (r.Insecure && !r.Distributed)
            throw new UserErrorException("--insecure applies to a cluster: give --workers, --spawn-workers or --min-workers too");
    }
}
