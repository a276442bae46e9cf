using System.Collections.Concurrent;
using System.Runtime.Intrinsics;
using Akka.Actor;
using DistributedNN.Model;

namespace DistributedNN.Coordinator;

using DistributedNN.Training;

/// <summary>Why a result was not taken, in classes the coordinator acts on differently.</summary>
public enum RejectionKind
{
    /// <summary>For another job, step or weight version: late or foreign, not a sign of a bad worker.</summary>
    Stale,
    /// <summary>For a shard that now belongs to another worker (handed out again after a deadline).</summary>
    Overtaken,
    /// <summary>NaN or ±∞ in the loss or the gradient: poisoned, or the model diverged.</summary>
    NonFinite,
    /// <summary>Wrong length or count, an unknown or repeated shard: a broken or hostile worker.</summary>
    Malformed,
}

public sealed record Rejection(RejectionKind Kind, string Reason)
{
    public override string ToString() => Reason;
}

/// <summary>Thread-safe pool of gradient-sized buffers (filled by the data plane's receive loops).</summary>
public sealed class GradientBufferPool(int length)
{
    private readonly ConcurrentBag<float[]> _free = new();
    public int Length { get; } = length;
    public float[] Rent() => _free.TryTake(out var b) ? b : GC.AllocateUninitializedArray<float>(Length, pinned: true);
    public void Return(float[]? buffer)
    {
        if (buffer is not null && buffer.Length == Length) _free.Add(buffer);
    }
}

/// <summary>
/// Collects one step's K shard results — metadata (loss, count) from the control plane and the
/// gradient from the data plane, in either order — validates each, and when all K are in, adds the
/// gradients in shard order: total = ((G₀ + G₁) + G₂) + …, the same float additions as the
/// single-process segmented backward pass, so the result is bit-identical whoever computed what.
/// </summary>
public sealed class StepAggregator
{
    private readonly GradientBufferPool _pool;
    private readonly Shard[] _shards;
    private int _complete;

    private sealed class Shard
    {
        /// <summary>Workers that returned NaN/∞ for this shard: two independent ones mean the model diverged.</summary>
        public readonly HashSet<IActorRef> NonFinite = new();
        public int NonFiniteReports;
        public IActorRef? Worker;
        public int ExpectedCount;
        public float[]? Gradient;
        public BatchStats? Stats;
        public double ComputeMs;
        public int[]? Activity;
    }

    private readonly int[]? _layerWidths;

    /// <param name="layerWidths">the network's layer widths, to check the results' activity counts (null: not checked)</param>
    public StepAggregator(Guid job, long step, long version, ReadOnlySpan<int> shardBounds, GradientBufferPool pool, int[]? layerWidths = null)
    {
        _layerWidths = layerWidths;
        Job = job;
        Step = step;
        Version = version;
        _pool = pool;
        _shards = new Shard[shardBounds.Length - 1];
        for (int s = 0; s < _shards.Length; s++) _shards[s] = new Shard { ExpectedCount = shardBounds[s + 1] - shardBounds[s] };
    }

    public Guid Job { get; }
    public long Step { get; }
    public long Version { get; }
    public int ShardCount => _shards.Length;
    public bool IsComplete => _complete == _shards.Length;

    /// <summary>Records that <paramref name="shard"/> was handed to <paramref name="worker"/>; only its results count.</summary>
    public void Assign(int shard, IActorRef worker) => _shards[shard].Worker = worker;

    public IActorRef? AssignedTo(int shard) => _shards[shard].Worker;

    /// <summary>Shards assigned to <paramref name="worker"/> and not yet complete (to hand out again if it dies).</summary>
    public IEnumerable<int> Outstanding(IActorRef worker)
    {
        for (int s = 0; s < _shards.Length; s++)
            if (Equals(_shards[s].Worker, worker) && !IsShardComplete(s)) yield return s;
    }

    public bool IsShardComplete(int shard) => _shards[shard].Gradient is not null && _shards[shard].Stats is not null;

    /// <summary>Null when accepted, else why the result was rejected (nothing of it is kept).</summary>
    public Rejection? AcceptResult(IActorRef sender, Guid job, long step, long version, int shard, BatchStats stats, double computeMs, int gradientLength,
        int[]? activity = null)
    {
        var why = CheckHeader(sender, job, step, version, shard);
        if (why is not null) return why;
        var s = _shards[shard];
        if (s.Stats is not null) return Malformed($"shard {shard} of step {step} was already reported");
        if (stats.Count != s.ExpectedCount) return Malformed($"shard {shard} has {s.ExpectedCount} samples but the result counts {stats.Count}");
        if (gradientLength != _pool.Length) return Malformed($"gradient of {gradientLength} values, the model has {_pool.Length}");
        if (!double.IsFinite(stats.LossSum))
        {
            s.NonFinite.Add(sender);
            s.NonFiniteReports++;
            return new Rejection(RejectionKind.NonFinite, $"loss sum {stats.LossSum} of shard {shard} is not finite");
        }
        if (stats.Correct < 0 || stats.Correct > stats.Count) return Malformed($"{stats.Correct} correct of {stats.Count}");
        if (activity is not null && _layerWidths is not null)
        {
            if (activity.Length != _layerWidths.Length) return Malformed($"{activity.Length} activity counts for {_layerWidths.Length} layers");
            for (int l = 0; l < activity.Length; l++)
                if (activity[l] < 0 || activity[l] > (long)_layerWidths[l] * stats.Count)
                    return Malformed($"activity count {activity[l]} of layer {l + 1} is out of range");
        }
        s.Stats = stats;
        s.ComputeMs = computeMs;
        s.Activity = activity;
        if (IsShardComplete(shard)) _complete++;
        return null;
    }

    /// <summary>
    /// Takes ownership of <paramref name="gradient"/> when accepted (returns null); a rejected buffer goes
    /// back to the pool. NaN or ±∞ anywhere rejects the whole shard.
    /// </summary>
    public Rejection? AcceptGradient(IActorRef sender, Guid job, long step, long version, int shard, float[] gradient)
    {
        var why = CheckHeader(sender, job, step, version, shard);
        if (why is null && gradient.Length != _pool.Length) why = Malformed($"gradient of {gradient.Length} values, the model has {_pool.Length}");
        if (why is null && _shards[shard].Gradient is not null) why = Malformed($"gradient of shard {shard} of step {step} arrived twice");
        if (why is null && !AllFinite(gradient))
        {
            _shards[shard].NonFinite.Add(sender);
            _shards[shard].NonFiniteReports++;
            why = new Rejection(RejectionKind.NonFinite, $"gradient of shard {shard} holds NaN or infinity");
        }
        if (why is not null)
        {
            _pool.Return(gradient);
            return why;
        }
        _shards[shard].Gradient = gradient;
        if (IsShardComplete(shard)) _complete++;
        return null;
    }

    /// <summary>Workers that reported NaN/∞ for <paramref name="shard"/>, and how many such reports came in all.</summary>
    public (IReadOnlyCollection<IActorRef> Workers, int Reports) NonFinite(int shard) => (_shards[shard].NonFinite, _shards[shard].NonFiniteReports);

    /// <summary>Forgets a shard's partial results (its worker died or was quarantined) so it can be redone.</summary>
    public void Reset(int shard)
    {
        var s = _shards[shard];
        if (IsShardComplete(shard)) _complete--;
        _pool.Return(s.Gradient);
        s.Gradient = null;
        s.Stats = null;
        s.Activity = null;
        s.Worker = null;
    }

    private Rejection? CheckHeader(IActorRef sender, Guid job, long step, long version, int shard)
    {
        if (job != Job) return new(RejectionKind.Stale, $"result for job {job}, this is job {Job}");
        if (step != Step) return new(RejectionKind.Stale, $"result for step {step}, the current step is {Step}");
        if (version != Version) return new(RejectionKind.Stale, $"result for weight version {version}, the current version is {Version}");
        if ((uint)shard >= (uint)_shards.Length) return Malformed($"shard {shard} does not exist (the step has {_shards.Length})");
        if (!Equals(_shards[shard].Worker, sender)) return new(RejectionKind.Overtaken, $"shard {shard} was not assigned to {sender.Path}");
        return null;
    }

    private static Rejection Malformed(string reason) => new(RejectionKind.Malformed, reason);

    /// <summary>Σ gradients in shard order into <paramref name="total"/>, and the shards' stats folded the same way.</summary>
    public BatchStats Sum(Span<float> total)
    {
        if (!IsComplete) throw new InvalidOperationException("the step is not complete");
        return ShardSum.AddInOrder(_shards.Length, s => _shards[s].Gradient!, s => _shards[s].Stats!.Value, total);
    }

    /// <summary>
    /// The shards' activity counts added up into <paramref name="total"/> (one per layer); false (and zeros) when a
    /// non-empty shard's result carried none.
    /// </summary>
    public bool SumActivity(Span<int> total)
    {
        total.Clear();
        foreach (var s in _shards)
        {
            if (s.ExpectedCount == 0) continue;
            if (s.Activity is null || s.Activity.Length != total.Length)
            {
                total.Clear();
                return false;
            }
            for (int l = 0; l < total.Length; l++) total[l] += s.Activity[l];
        }
        return true;
    }

    /// <summary>Each shard's worker and the compute milliseconds it reported (a complete step's shards).</summary>
    public IEnumerable<(IActorRef Worker, double Ms)> ShardTimes()
    {
        foreach (var s in _shards)
            if (s.Worker is not null && s.Stats is not null) yield return (s.Worker, s.ComputeMs);
    }

    /// <summary>Compute time per worker in this step (milliseconds), for logs and metrics.</summary>
    public Dictionary<IActorRef, double> ComputeTimes()
    {
        var d = new Dictionary<IActorRef, double>();
        foreach (var s in _shards)
            if (s.Worker is not null) d[s.Worker] = d.GetValueOrDefault(s.Worker) + s.ComputeMs;
        return d;
    }

    /// <summary>Returns every held gradient buffer to the pool.</summary>
    public void Release()
    {
        foreach (var s in _shards)
        {
            _pool.Return(s.Gradient);
            s.Gradient = null;
        }
    }

    private static bool AllFinite(ReadOnlySpan<float> x)
    {
        // x − x is 0 for finite x and NaN for NaN/±∞; one NaN makes the running sum NaN.
        int i = 0;
        var acc = Vector256<float>.Zero;
        for (; i + 8 <= x.Length; i += 8)
        {
            var v = Vector256.Create(x.Slice(i, 8));
            acc += v - v;
        }
        float tail = 0;
        for (; i < x.Length; i++) tail += x[i] - x[i];
        return Vector256.Sum(acc) == 0 && tail == 0;
    }
}
