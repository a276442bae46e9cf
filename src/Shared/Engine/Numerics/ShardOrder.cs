namespace DistributedNN.Numerics;

/// <summary>
/// The shard-ordered sum, the heart of the determinism promise: G = ((G₀ + G₁) + G₂) + …, each shard's part Gₛ summed
/// from zero by whoever computed it, the parts added in shard order, empty shards skipped, and G = 0 when every shard is
/// empty. A layer's parameter gradient over the shards of a call, the shards computed side by side on a team's threads,
/// and the coordinator's sum of its workers' results all go through <see cref="Sum"/>; <see cref="Gemm.MatMulSegmented"/>
/// makes the very same additions inside its registers. So every way of computing a step gives the same bits.
/// </summary>
public static class ShardOrder
{
    /// <summary>The shards' parts of one sum.</summary>
    public interface IShards
    {
        int Count { get; }

        /// <summary>
        /// Shard <paramref name="shard"/>'s part: where it is stored, or computed from zero into <paramref name="scratch"/>;
        /// empty for an empty shard.
        /// </summary>
        ReadOnlySpan<float> Part(int shard, Span<float> scratch);
    }

    /// <summary><paramref name="total"/> = ((G₀ + G₁) + G₂) + … over the non-empty shards (overwritten); <paramref name="scratch"/> as long as the total.</summary>
    public static void Sum<TShards>(ref TShards shards, Span<float> total, Span<float> scratch) where TShards : IShards, allows ref struct
    {
        bool first = true;
        for (int s = 0; s < shards.Count; s++)
        {
            var part = shards.Part(s, scratch);
            if (part.IsEmpty) continue;
            if (first) part.CopyTo(total);
            else Elementwise.AddInto(total, part);
            first = false;
        }
        if (first) total.Clear();
    }
}
