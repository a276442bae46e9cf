using DistributedNN.Numerics;

namespace DistributedNN.Model.Layers;

/// <summary>Shard s's Σ_rows of a [rows × n] buffer (a bias's gradient: Σ δ) [n], from zero in row order: the parts
/// <see cref="ShardOrder.Sum"/> adds in shard order. Dense layers' biases and layer normalisation's β.</summary>
internal readonly unsafe ref struct ShardColumnSums(float* delta, int n, ReadOnlySpan<int> shards) : ShardOrder.IShards
{
    private readonly ReadOnlySpan<int> _shards = shards;

    public int Count => _shards.Length - 1;

    public ReadOnlySpan<float> Part(int shard, Span<float> scratch)
    {
        int from = _shards[shard], to = _shards[shard + 1];
        if (from == to) return default;
        scratch.Clear();
        fixed (float* sum = scratch)
            for (int r = from; r < to; r++) Elementwise.AddInto(sum, delta + (long)r * n, n);
        return scratch;
    }
}
