namespace DistributedNN.Training;

public enum OptimizerKind { Sgd, Momentum, Nesterov, Adam, AdamW }

/// <summary>Hyper-parameters of an optimizer; the meaning of each matches torch.optim.</summary>
public sealed record OptimizerSettings(
    OptimizerKind Kind,
    float LearningRate,
    float Momentum = 0.9f,
    float WeightDecay = 0f,
    float Beta1 = 0.9f,
    float Beta2 = 0.999f,
    float Epsilon = 1e-8f)
{
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
    }
}
