namespace DistributedNN.Training;

public enum OptimizerKind { Sgd, Momentum, Nesterov, Adam, AdamW }

/// <summary>Hyper-parameters of an optimizer; the meaning of each matches torch.optim.</summary>
/// <param name="Schedule">the learning rate of each step (null: <paramref name="LearningRate"/> throughout)</param>
/// <param name="DecayBiases">weight decay on every parameter (torch.optim's default), or on weights only: none on
/// biases (a parameter group without decay)</param>
/// <param name="NoDecay">the parameters without decay, [start, end) pairs of the flat vector: what
/// <see cref="Resolve"/> derives from the network; null before</param>
/// <param name="Averaged">the statistics moved by an exponential average of their "gradient" (the batch's value)
/// instead of a gradient step — batch normalisation's running mean and variance — [start, end) pairs; from
/// <see cref="Resolve"/></param>
public sealed record OptimizerSettings(
    OptimizerKind Kind,
    float LearningRate,
    float Momentum = 0.9f,
    float WeightDecay = 0f,
    float Beta1 = 0.9f,
    float Beta2 = 0.999f,
    float Epsilon = 1e-8f,
    LearningRateSchedule? Schedule = null,
    bool DecayBiases = true,
    int[]? NoDecay = null,
    int[]? Averaged = null)
{
    /// <summary>The factor of the running statistics' average (torch's BatchNorm momentum).</summary>
    public const float AverageMomentum = 0.1f;

    /// <summary>These settings for a run: the schedule's step counts and the parameters without decay filled in.</summary>
    public OptimizerSettings Resolve(Model.NetworkSpec spec, long stepsPerEpoch, int epochs)
    {
        int[]? noDecay = null;
        if (!DecayBiases)
        {
            // no decay on biases, nor on normalisation layers' γ and β
            var ranges = new List<int>();
            for (int l = 0; l < spec.Layers.Count; l++)
            {
                var layer = spec.Layers[l];
                if (layer.Kind is Model.LayerKind.LayerNorm or Model.LayerKind.BatchNorm) ranges.AddRange([spec.WeightOffset(l), spec.StatOffset(l)]);
                else if (layer.BiasCount > 0) ranges.AddRange([spec.BiasOffset(l), spec.BiasOffset(l) + layer.BiasCount]);
            }
            noDecay = [.. ranges];
        }
        var averaged = new List<int>();
        for (int l = 0; l < spec.Layers.Count; l++)
            if (spec.Layers[l].StatCount > 0) averaged.AddRange([spec.StatOffset(l), spec.StatOffset(l) + spec.Layers[l].StatCount]);
        return this with { Schedule = Schedule?.Resolve(stepsPerEpoch, epochs), NoDecay = noDecay, Averaged = averaged.Count > 0 ? [.. averaged] : null };
    }

    /// <summary>The learning rate of the optimizer's step <paramref name="t"/> (0-based).</summary>
    public float RateAt(long t) => Schedule?.LearningRate(LearningRate, t) ?? LearningRate;

    public static bool TryParseKind(string? text, out OptimizerKind kind)
    {
        switch (text?.Trim().ToLowerInvariant())
        {
            case "sgd": kind = OptimizerKind.Sgd; return true;
            case "momentum": kind = OptimizerKind.Momentum; return true;
            case "nesterov": kind = OptimizerKind.Nesterov; return true;
            case "adam": kind = OptimizerKind.Adam; return true;
            case "adamw": kind = OptimizerKind.AdamW; return true;
            default: kind = default; return false;
        }
    }

    public static string Name(OptimizerKind kind) => kind.ToString().ToLowerInvariant();

    /// <summary>Rejects values that cannot train, naming the option.</summary>
    public void Validate()
    {
        if (!(LearningRate > 0) || float.IsInfinity(LearningRate)) throw new UserErrorException($"--lr must be a positive number (got {LearningRate})");
        if (!(Momentum >= 0 && Momentum < 1)) throw new UserErrorException($"--momentum must be in [0, 1) (got {Momentum})");
        if (!(WeightDecay >= 0) || float.IsInfinity(WeightDecay)) throw new UserErrorException($"--weight-decay must be zero or positive (got {WeightDecay})");
        if (!(Beta1 >= 0 && Beta1 < 1) || !(Beta2 >= 0 && Beta2 < 1)) throw new UserErrorException("Adam's betas must be in [0, 1)");
        if (!(Epsilon > 0)) throw new UserErrorException($"Adam's epsilon must be positive (got {Epsilon})");
        Schedule?.Validate(LearningRate);
        foreach (var r in new[] { NoDecay, Averaged })
            if (r is not null && (r.Length % 2 != 0 || r.Where((v, i) => v < 0 || (i > 0 && v < r[i - 1])).Any()))
                throw new UserErrorException("parameter ranges must be ordered [start, end) pairs");
    }
}
