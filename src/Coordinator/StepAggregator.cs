using DistributedNN.Model;
using DistributedNN.Numerics;
using DistributedNN.Protocol;
using DistributedNN.Training;
using DistributedNN.Transport;

namespace DistributedNN.Coordinator;

/// <summary>
/// One step's K shard results, each checked as it arrives (the sample count its shard must have, the gradient's length,
/// finite values, activity counts within the layer's size); when all K are in, the gradients are added in shard order:
/// total = ((G₀ + G₁) + G₂) + …, the same float additions as the single-process segmented backward pass, so the result is
/// bit-identical whoever computed what.
/// </summary>
public sealed class StepAggregator : IWorkRound
{
    private readonly GradientBufferPool _pool;
    private readonly Shard[] _shards;
    private readonly int[] _layerWidths;
    private readonly int _epoch, _stepInEpoch;

    private sealed class Shard
    {
        public int ExpectedCount;
        public float[]? Gradient;
        public BatchStats Stats;
        public double ComputeMs;
        public int[] Activity = [];
        public string Worker = "";
    }

    /// <param name="layerWidths">the network's layer widths, to check the results' activity counts</param>
    public StepAggregator(Guid job, long step, long version, int epoch, int stepInEpoch, ReadOnlySpan<int> shardBounds, GradientBufferPool pool, int[] layerWidths)
    {
        (Job, Step, Version, _epoch, _stepInEpoch, _pool, _layerWidths) = (job, step, version, epoch, stepInEpoch, pool, layerWidths);
        _shards = new Shard[shardBounds.Length - 1];
        for (int s = 0; s < _shards.Length; s++) _shards[s] = new Shard { ExpectedCount = shardBounds[s + 1] - shardBounds[s] };
    }

    public Guid Job { get; }
    public long Step { get; }
    public long Version { get; }
    public WorkKind Kind => WorkKind.Shards;
    public int Items => _shards.Length;

    public WorkOrder Order(int[] items) => new(WorkKind.Shards, Job, Step, Version, _epoch, _stepInEpoch, items);

    public Rejection? Addressed(WorkResult r)
    {
        if (r.Kind != WorkKind.Shards) return Rejection.Stale($"a {r.Kind} result during step {Step}");
        if (r.Job != Job) return Rejection.Stale($"result for job {r.Job}, this is job {Job}");
        if (r.Step != Step) return Rejection.Stale($"result for step {r.Step}, the current step is {Step}");
        if (r.Version != Version) return Rejection.Stale($"result for weight version {r.Version}, the current version is {Version}");
        if ((uint)r.Item >= (uint)_shards.Length) return Rejection.Malformed($"shard {r.Item} does not exist (the step has {_shards.Length})");
        return null;
    }

    public Rejection? Accept(WorkResult r, float[]? gradient, string worker)
    {
        if (Check(r, gradient) is { } why) return why;
        var s = _shards[r.Item];
        (s.Gradient, s.Stats, s.ComputeMs, s.Activity, s.Worker) = (gradient, r.Stats, r.ComputeMilliseconds, r.Activity, worker);
        return null;
    }

    private Rejection? Check(WorkResult r, float[]? gradient)
    {
        var s = _shards[r.Item];
        if (s.Gradient is not null) return Rejection.Malformed($"shard {r.Item} of step {Step} was already delivered");
        if (r.Stats.Count != s.ExpectedCount) return Rejection.Malformed($"shard {r.Item} has {s.ExpectedCount} samples but the result counts {r.Stats.Count}");
        if (r.GradientLength != _pool.Length || gradient?.Length != _pool.Length)
            return Rejection.Malformed($"gradient of {(gradient is null ? r.GradientLength : gradient.Length)} values, the model has {_pool.Length}");
        if (!double.IsFinite(r.Stats.LossSum)) return new Rejection(RejectionKind.NonFinite, $"loss sum {r.Stats.LossSum} of shard {r.Item} is not finite");
        if (!Elementwise.AllFinite(gradient)) return new Rejection(RejectionKind.NonFinite, $"gradient of shard {r.Item} holds NaN or infinity");
        if (r.Stats.Correct < 0 || r.Stats.Correct > r.Stats.Count) return Rejection.Malformed($"{r.Stats.Correct} correct of {r.Stats.Count}");
        if (r.Activity.Length != _layerWidths.Length) return Rejection.Malformed($"{r.Activity.Length} activity counts for {_layerWidths.Length} layers");
        for (int l = 0; l < r.Activity.Length; l++)
            if (r.Activity[l] < 0 || r.Activity[l] > (long)_layerWidths[l] * r.Stats.Count)
                return Rejection.Malformed($"activity count {r.Activity[l]} of layer {l + 1} is out of range");
        return null;
    }

    /// <summary>Σ gradients in shard order into <paramref name="total"/>, and the shards' stats folded the same way (all shards accepted).</summary>
    public BatchStats Sum(Span<float> total)
    {
        if (_shards.Any(s => s.Gradient is null)) throw new InvalidOperationException("the step is not complete");
        return ShardSum.AddInOrder(_shards.Length, s => _shards[s].Gradient!, s => _shards[s].Stats, total);
    }

    /// <summary>The shards' activity counts added up into <paramref name="total"/> (one per layer).</summary>
    public void SumActivity(Span<int> total)
    {
        total.Clear();
        foreach (var s in _shards)
            for (int l = 0; l < total.Length; l++) total[l] += s.Activity[l];
    }

    /// <summary>Each shard's worker and the compute milliseconds it reported.</summary>
    public IEnumerable<(string Worker, double Ms)> ShardTimes() => _shards.Select(s => (s.Worker, s.ComputeMs));

    public void Release()
    {
        foreach (var s in _shards)
        {
            _pool.Return(s.Gradient);
            s.Gradient = null;
        }
    }
}
