using DistributedNN.Model;
using DistributedNN.Numerics;

namespace DistributedNN.Training;

/// <summary>
/// The reduction of a step whose shards were computed apart (on workers): their gradients added by
/// <see cref="ShardOrder.Sum"/>, G = ((G₀ + G₁) + G₂) + …, empty shards skipped, and their loss/accuracy folded in the
/// same order — the very additions the single-process step makes, so every way of computing a step agrees bit for bit.
/// </summary>
public static class ShardSum
{
    public static BatchStats AddInOrder(int shards, Func<int, float[]> gradient, Func<int, BatchStats> stats, Span<float> total)
    {
        var sum = new BatchStats(0, 0, 0);
        for (int s = 0; s < shards; s++) sum += stats(s);
        var stored = new Stored(shards, gradient, stats);
        ShardOrder.Sum(ref stored, total, default);
        return sum;
    }

    private readonly struct Stored(int count, Func<int, float[]> gradient, Func<int, BatchStats> stats) : ShardOrder.IShards
    {
        public int Count => count;
        public ReadOnlySpan<float> Part(int shard, Span<float> scratch) => stats(shard).Count == 0 ? default : gradient(shard);
    }
}
