namespace DistributedNN.Training;

/// <summary>Settings of a training run (the parts that define its mathematics).</summary>
public sealed record TrainingSettings(int Epochs, int BatchSize, int Shards, ulong Seed, bool Shuffle, OptimizerSettings Optimizer)
{
    public void Validate()
    {
        if (Epochs < 0) throw new UserErrorException($"--epochs must be zero or more (got {Epochs})");
        if (BatchSize <= 0) throw new UserErrorException($"--batch must be at least 1 (got {BatchSize})");
        if (Shards <= 0) throw new UserErrorException($"--shards must be at least 1 (got {Shards})");
        if (Shards > BatchSize) throw new UserErrorException($"--shards ({Shards}) cannot exceed --batch ({BatchSize})");
        Optimizer.Validate();
    }
}
