using DistributedNN.Numerics;

namespace DistributedNN.Training;

/// <summary>
/// Which samples each step uses, as a pure function of (seed, epoch, step): the epoch's order is
/// a permutation drawn from (seed, epoch); step s takes the slice [s·B, s·B + B) of it (the last
/// step of an epoch may be shorter: no sample is dropped); the slice is cut into
/// <see cref="ShardCount"/> shards whose boundaries depend only on the slice length — never on
/// how many machines compute them. The single-process trainer and the cluster run the same plan.
/// </summary>
public sealed class DataPlan
{
    private int[] _order = [];
    private int _orderEpoch = -1;

    public DataPlan(int sampleCount, int batchSize, int shardCount, ulong seed, bool shuffle)
    {
        if (sampleCount <= 0) throw new UserErrorException("the training set is empty");
        if (batchSize <= 0) throw new UserErrorException($"--batch must be at least 1 (got {batchSize})");
        if (shardCount <= 0) throw new UserErrorException($"--shards must be at least 1 (got {shardCount})");
        if (shardCount > batchSize) throw new UserErrorException($"--shards ({shardCount}) cannot exceed --batch ({batchSize}): a shard needs at least one sample");
        SampleCount = sampleCount;
        BatchSize = batchSize;
        ShardCount = shardCount;
        Seed = seed;
        Shuffle = shuffle;
    }

    public int SampleCount { get; }
    public int BatchSize { get; }
    public int ShardCount { get; }
    public ulong Seed { get; }
    public bool Shuffle { get; }
    public int StepsPerEpoch => (SampleCount + BatchSize - 1) / BatchSize;

    /// <summary>The order of the samples in <paramref name="epoch"/> (0-based); cached for the current epoch.</summary>
    public ReadOnlySpan<int> EpochOrder(int epoch)
    {
        if (epoch != _orderEpoch)
        {
            if (_order.Length != SampleCount) _order = new int[SampleCount];
            for (int i = 0; i < _order.Length; i++) _order[i] = i;
            if (Shuffle) Rng.For(Seed, stream: 2, index: (ulong)epoch).Shuffle(_order);
            _orderEpoch = epoch;
        }
        return _order;
    }

    /// <summary>The sample indices of step <paramref name="step"/> (0-based within the epoch).</summary>
    public ReadOnlySpan<int> Batch(int epoch, int step)
    {
        if ((uint)step >= (uint)StepsPerEpoch) throw new ArgumentOutOfRangeException(nameof(step));
        int start = step * BatchSize;
        return EpochOrder(epoch).Slice(start, System.Math.Min(BatchSize, SampleCount - start));
    }

    /// <summary>
    /// Shard j of a batch of <paramref name="batchLength"/> samples is [⌊j·n/K⌋, ⌊(j+1)·n/K⌋);
    /// writes the K+1 boundaries. A batch shorter than K gets some empty shards.
    /// </summary>
    public void ShardBounds(int batchLength, Span<int> bounds)
    {
        if (bounds.Length != ShardCount + 1) throw new ArgumentException($"bounds needs {ShardCount + 1} entries");
        for (int j = 0; j <= ShardCount; j++) bounds[j] = (int)((long)j * batchLength / ShardCount);
    }
}
