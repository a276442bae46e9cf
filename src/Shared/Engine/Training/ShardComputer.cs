using System.Security.Cryptography;
using DistributedNN.Data;
using DistributedNN.Model;

namespace DistributedNN.Training;

/// <summary>
/// A worker's compute: the gradient of one shard of a step, and the loss/accuracy of one test-set
/// chunk, for given weights. Pure apart from its buffers: the same (weights, epoch, step, shard)
/// gives the same bits on any node, and equals that shard's part of the single-process step.
/// Not thread-safe: one per thread.
/// </summary>
public sealed class ShardComputer
{
    private readonly Dataset _train, _test;
    private readonly Backprop _backprop;
    private readonly float[] _input;
    private readonly float[] _scratch;
    private readonly int[] _labels;
    private readonly int[] _bounds;
    private readonly int[] _activity;
    private readonly Augmentation _augment;

    /// <param name="augment">random crops and flips of the training images (null: none)</param>
    /// <param name="labelSmoothing">the training loss's label smoothing (<see cref="TrainingSettings.LabelSmoothing"/>)</param>
    public ShardComputer(NetworkSpec spec, Dataset train, Dataset test, int batchSize, int shards, ulong seed, bool shuffle, Augmentation? augment = null,
        float labelSmoothing = 0f)
    {
        _augment = augment ?? new Augmentation();
        LocalTrainer.CheckData(spec, train);
        LocalTrainer.CheckData(spec, test);
        Spec = spec;
        _train = train;
        _test = test;
        Plan = new DataPlan(train.Count, batchSize, shards, seed, shuffle);
        int maxShard = (batchSize + shards - 1) / shards;
        _backprop = new Backprop(spec, maxShard, labelSmoothing);
        _input = GC.AllocateArray<float>(maxShard * spec.InputSize, pinned: true);
        _scratch = new float[spec.InputSize];
        _labels = new int[maxShard];
        _bounds = new int[shards + 1];
        _activity = new int[spec.Layers.Count];
    }

    /// <summary>The last computed shard's <see cref="ActivationHealth"/> counts per layer.</summary>
    public ReadOnlySpan<int> Activity => _activity;

    public NetworkSpec Spec { get; }
    public DataPlan Plan { get; }

    /// <summary>The rows of <paramref name="shard"/> in step <paramref name="stepInEpoch"/> of <paramref name="epoch"/>.</summary>
    public (int Start, int Count) ShardRange(int epoch, int stepInEpoch, int shard)
    {
        var batch = Plan.Batch(epoch, stepInEpoch);
        Plan.ShardBounds(batch.Length, _bounds);
        return (_bounds[shard], _bounds[shard + 1] - _bounds[shard]);
    }

    /// <summary>The shard's gradient (sum over its samples) into <paramref name="gradient"/>, overwritten.</summary>
    /// <param name="weightsVersion">the version of <paramref name="weights"/>, so that shards of one step share one transposition (−1: unknown)</param>
    public BatchStats ComputeShard(ReadOnlySpan<float> weights, int epoch, int stepInEpoch, int shard, Span<float> gradient, long weightsVersion = -1)
    {
        if ((uint)shard >= (uint)Plan.ShardCount) throw new ArgumentOutOfRangeException(nameof(shard));
        var (start, count) = ShardRange(epoch, stepInEpoch, shard);
        if (count == 0)
        {
            gradient.Clear();
            Array.Clear(_activity);
            return default;
        }
        var batch = Plan.Batch(epoch, stepInEpoch);
        int f = Spec.InputSize;
        for (int r = 0; r < count; r++)
        {
            int sample = batch[start + r];
            _augment.Gather(_train, sample, Spec.InputShape, Plan.Seed, epoch, _input.AsSpan(r * f, f), _scratch);
            _labels[r] = _train.Labels[sample];
        }
        var stats = _backprop.Gradient(weights, _input, _labels, count, gradient, weightsVersion, new DropoutKey(Plan.Seed, epoch, stepInEpoch, shard));
        _backprop.Activity.CopyTo(_activity);
        return stats;
    }

    public int EvaluationChunks => LocalTrainer.EvaluationChunks(_test.Count);

    public BatchStats EvaluateChunk(ReadOnlySpan<float> weights, int chunk, long weightsVersion = -1)
    {
        if ((uint)chunk >= (uint)EvaluationChunks) throw new ArgumentOutOfRangeException(nameof(chunk));
        return LocalTrainer.EvaluateChunk(_backprop, weights, _test, chunk, weightsVersion);
    }

    /// <summary>SHA-256 over the train and test sets as loaded (features, labels, shapes): equal on every node or refused.</summary>
    public static string Fingerprint(Dataset train, Dataset test)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var d in new[] { train, test })
        {
            Span<int> shape = [d.Count, d.FeatureCount, d.ClassCount];
            sha.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(shape));
            d.Rows.AppendTo(sha);
            sha.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(d.Labels.AsSpan()));
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }
}
