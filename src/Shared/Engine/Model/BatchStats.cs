namespace DistributedNN.Model;

/// <summary>Loss sum, correct predictions and sample count of a batch or shard.</summary>
public readonly record struct BatchStats(double LossSum, int Correct, int Count)
{
    public static BatchStats operator +(BatchStats a, BatchStats b) => new(a.LossSum + b.LossSum, a.Correct + b.Correct, a.Count + b.Count);
}
