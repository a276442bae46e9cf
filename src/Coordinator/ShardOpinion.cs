using System.Runtime.InteropServices;
using DistributedNN.Model;

namespace DistributedNN.Coordinator;

/// <summary>
/// One computation of a step's shard: who made it (a worker's id, or <see cref="WorkScheduler.Coordinator"/>) and what it
/// gave. Shard gradients are a pure function of (weights, shard), so two honest computations are the same bits.
/// </summary>
/// <param name="Gradient">a pooled buffer, the step's until it is released</param>
public sealed record ShardOpinion(int Worker, string Name, float[] Gradient, BatchStats Stats, int[] Activity)
{
    /// <summary>The same gradient bytes (−0 ≠ +0), loss bits, correct and sample counts, and activity counts.</summary>
    public bool SameAs(ShardOpinion other) =>
        BitConverter.DoubleToInt64Bits(Stats.LossSum) == BitConverter.DoubleToInt64Bits(other.Stats.LossSum)
        && Stats.Correct == other.Stats.Correct && Stats.Count == other.Stats.Count
        && Activity.AsSpan().SequenceEqual(other.Activity)
        && MemoryMarshal.AsBytes(Gradient.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(other.Gradient.AsSpan()));
}

/// <summary>What the opinions on a shard say so far.</summary>
/// <param name="Settled">the shard's gradient is known (the sum may use it)</param>
/// <param name="Disputed">two workers disagree and nothing decides between them yet: the coordinator must compute it</param>
/// <param name="Liars">the workers whose opinion differs from the coordinator's (taken out of the step)</param>
public sealed record ShardVerdict(bool Settled, bool Disputed, IReadOnlyList<ShardOpinion> Liars)
{
    public static ShardVerdict Pending { get; } = new(false, false, []);
    public static ShardVerdict Agreed { get; } = new(true, false, []);
    public static ShardVerdict Dispute { get; } = new(false, true, []);
}
