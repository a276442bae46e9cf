using DistributedNN.Model;
using DistributedNN.Numerics;

namespace DistributedNN.Training;

/// <summary>
/// The one reduction of a step: shard gradients added in shard order, G = ((G₀ + G₁) + G₂) + …,
/// empty shards skipped, and the shards' loss/accuracy folded the same way — the very additions the
/// single-process segmented backward pass makes, so every way of computing a step agrees bit for bit.
/// </summary>
public static class ShardSum
{
    public static BatchStats AddInOrder(int shards, Func<int, float[]> gradient, Func<int, BatchStats> stats, Span<float> total)
    {
        var sum = new BatchStats(0, 0, 0);
        bool first = true;
        for (int s = 0; s < shards; s++)
        {
            var shardStats = stats(s);
            sum += shardStats;
            if (shardStats.Count == 0) continue;
            var g = gradient(s);
            if (first) g.AsSpan().CopyTo(total);
            else Elementwise.AddInto(total, g);
            first = false;
        }
        if (first) total.Clear();
        return sum;
    }
}
