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
/// bit-identical whoever computed what. A verified shard (--verify-fraction) counts only when two opinions agree bit for
/// bit, or when the coordinator's own computation (the trusted one) is there: whoever differs from it lied.
/// In a sharded step (<see cref="ShardedOver"/>) the gradients go to the slice owners instead: a shard's result counts when
/// it names the current layout, and the step's sum arrives slice by slice from the owners, already added in shard order.
/// </summary>
public sealed class StepAggregator : IWorkRound
{
    private readonly GradientBufferPool _pool;
    private readonly Shard[] _shards;
    private readonly int[] _layerWidths;
    private readonly List<(string Worker, double Ms)> _times = [];
    private readonly float[]? _total;
    private Sliced? _sliced;

    /// <summary>A sharded step's layout and the slice sums in so far (written into the job's gradient buffer).</summary>
    private sealed class Sliced(ushort layout, int[] bounds, int[]? owners)
    {
        public readonly ushort Layout = layout;
        public readonly int[] Bounds = bounds;
        public readonly int[]? Owners = owners; // the worker that owns each slice (null: not checked)
        public readonly bool[] Got = new bool[bounds.Length - 1];
        public int Count;
        public int Slice(int offset) => Array.BinarySearch(Bounds, 0, Bounds.Length - 1, offset);
    }

    private sealed class Shard
    {
        public int ExpectedCount;
        public bool Verified;
        public readonly List<ShardOpinion> Opinions = new(2); // the workers', in arrival order
        public ShardOpinion? Truth;                            // the coordinator's own computation
        public ShardOpinion? Kept;                             // what the sum uses, once settled
    }

    /// <param name="layerWidths">the network's layer widths, to check the results' activity counts</param>
    /// <param name="verified">the shards to compute twice and compare (distinct, in range)</param>
    /// <param name="total">where a sharded step's slice sums are put together (the job's gradient buffer)</param>
    public StepAggregator(Guid job, long step, long version, int epoch, int stepInEpoch, ReadOnlySpan<int> shardBounds, GradientBufferPool pool, int[] layerWidths,
        IReadOnlyList<int>? verified = null, float[]? total = null)
    {
        _total = total;
        (Job, Step, Version, Epoch, StepInEpoch, _pool, _layerWidths) = (job, step, version, epoch, stepInEpoch, pool, layerWidths);
        _shards = new Shard[shardBounds.Length - 1];
        for (int s = 0; s < _shards.Length; s++) _shards[s] = new Shard { ExpectedCount = shardBounds[s + 1] - shardBounds[s] };
        Verified = verified ?? [];
        foreach (int s in Verified) _shards[s].Verified = true;
    }

    public Guid Job { get; }
    public long Step { get; }
    public long Version { get; }
    public int Epoch { get; }
    public int StepInEpoch { get; }
    public WorkKind Kind => WorkKind.Shards;
    public int Items => _shards.Length;
    public IReadOnlyList<int> Verified { get; }

    public WorkOrder Order(int[] items) => new(WorkKind.Shards, Job, Step, Version, Epoch, StepInEpoch, items);

    /// <summary>From now on the step is sharded over <paramref name="layout"/>: whatever came before it no longer counts.</summary>
    /// <param name="owners">the worker that owns each slice: a slice's sum counts only from it</param>
    public void ShardedOver(ushort layout, int[] bounds, int[]? owners = null)
    {
        if (_total is null) throw new InvalidOperationException("a sharded step needs the buffer its sum is put together in");
        Release();
        _times.Clear(); // the results before it no longer count: neither do their times
        _sliced = new Sliced(layout, bounds, owners);
    }

    /// <summary>The slices whose sums have not come (none for a step that is not sharded).</summary>
    public IEnumerable<int> MissingSlices() => _sliced is null ? [] : Enumerable.Range(0, _sliced.Got.Length).Where(i => !_sliced.Got[i]);

    /// <summary>Every slice sum is in (always, for a step that is not sharded).</summary>
    public bool Settled => _sliced is null || _sliced.Count == _sliced.Got.Length;

    public Rejection? Addressed(WorkResult r)
    {
        if (r.Kind == WorkKind.SliceSum && _sliced is not null)
            return r.Job != Job || r.Step != Step || r.Version != Version ? Rejection.Stale($"a slice sum for step {r.Step + 1} v{r.Version}, this is step {Step + 1} v{Version}") : null;
        if (r.Kind != WorkKind.Shards) return Rejection.Stale($"a {r.Kind} result during step {Step}");
        if (r.Job != Job) return Rejection.Stale($"result for job {r.Job}, this is job {Job}");
        if (r.Step != Step) return Rejection.Stale($"result for step {r.Step}, the current step is {Step}");
        if (r.Version != Version) return Rejection.Stale($"result for weight version {r.Version}, the current version is {Version}");
        if ((uint)r.Item >= (uint)_shards.Length) return Rejection.Malformed($"shard {r.Item} does not exist (the step has {_shards.Length})");
        return null;
    }

    public Rejection? Accept(WorkResult r, float[]? gradient, int worker, string name)
    {
        if (r.Kind == WorkKind.SliceSum) return AcceptSlice(r, gradient, worker);
        if (Check(r, gradient) is { } why) return why;
        var s = _shards[r.Item];
        var opinion = new ShardOpinion(worker, name, gradient ?? [], r.Stats, r.Activity);
        s.Opinions.Add(opinion);
        if (!s.Verified) s.Kept = opinion;
        _times.Add((name, r.ComputeMilliseconds));
        return null;
    }

    private Rejection? Check(WorkResult r, float[]? gradient)
    {
        var s = _shards[r.Item];
        if (s.Truth is null && s.Opinions.Count >= (s.Verified ? 2 : 1)) return Rejection.Malformed($"shard {r.Item} of step {Step} was already delivered");
        if (r.Stats.Count != s.ExpectedCount) return Rejection.Malformed($"shard {r.Item} has {s.ExpectedCount} samples but the result counts {r.Stats.Count}");
        if (_sliced is not null)
        {
            if (r.Layout != _sliced.Layout) return Rejection.Stale($"shard {r.Item}'s gradient went to the owners of layout {r.Layout}, the step's is {_sliced.Layout}");
            if (r.GradientLength != 0 || gradient is not null) return Rejection.Malformed($"shard {r.Item} came with a gradient in a sharded step");
        }
        else if (r.GradientLength != _pool.Length || gradient?.Length != _pool.Length)
            return Rejection.Malformed($"gradient of {(gradient is null ? r.GradientLength : gradient.Length)} values, the model has {_pool.Length}");
        if (!double.IsFinite(r.Stats.LossSum)) return new Rejection(RejectionKind.NonFinite, $"loss sum {r.Stats.LossSum} of shard {r.Item} is not finite");
        if (gradient is not null && !Elementwise.AllFinite(gradient)) return new Rejection(RejectionKind.NonFinite, $"gradient of shard {r.Item} holds NaN or infinity");
        if (r.Stats.Correct < 0 || r.Stats.Correct > r.Stats.Count) return Rejection.Malformed($"{r.Stats.Correct} correct of {r.Stats.Count}");
        if (r.Activity.Length != _layerWidths.Length) return Rejection.Malformed($"{r.Activity.Length} activity counts for {_layerWidths.Length} layers");
        for (int l = 0; l < r.Activity.Length; l++)
            if (r.Activity[l] < 0 || r.Activity[l] > (long)_layerWidths[l] * r.Stats.Count)
                return Rejection.Malformed($"activity count {r.Activity[l]} of layer {l + 1} is out of range");
        return null;
    }

    /// <summary>A slice owner's sum of the step over its slice (a pool buffer, its first values): copied into place.</summary>
    private Rejection? AcceptSlice(WorkResult r, float[]? sum, int worker)
    {
        var sliced = _sliced!;
        int slice = sliced.Slice(r.Item);
        if (slice < 0 || sum is null || r.GradientLength != sliced.Bounds[slice + 1] - sliced.Bounds[slice])
            return Rejection.Stale($"a slice sum of {r.GradientLength} values at {r.Item} is not a slice of layout {sliced.Layout}");
        if (sliced.Owners is { } owners && owners[slice] != worker)
            return Rejection.Stale($"the sum of slice {slice} counts only from its owner in layout {sliced.Layout}");
        if (sliced.Got[slice]) return Rejection.Malformed($"the sum of slice {slice} of step {Step + 1} was already delivered");
        if (r.Stats.Count != _shards.Sum(s => s.ExpectedCount)) return Rejection.Malformed($"slice {slice}'s sum counts {r.Stats.Count} samples");
        // the workers send no gradient that is not finite (they report a loss that is not): this is a sum that overflowed, or a lie
        if (!Elementwise.AllFinite(sum.AsSpan(0, r.GradientLength))) return new Rejection(RejectionKind.NonFinite, $"the sum of slice {slice} of step {Step} holds NaN or infinity");
        sum.AsSpan(0, r.GradientLength).CopyTo(_total!.AsSpan(r.Item));
        sliced.Got[slice] = true;
        sliced.Count++;
        return null;
    }

    // ---- verification ----

    /// <summary>A buffer for the coordinator's own computation of a shard (the step's once given to <see cref="Referee"/>).</summary>
    public float[] RentGradient() => _pool.Rent();

    /// <summary>The coordinator has computed <paramref name="shard"/> itself.</summary>
    public bool Refereed(int shard) => _shards[shard].Truth is not null;

    /// <summary>The coordinator's own computation of <paramref name="shard"/>: the truth the workers' opinions are held to.</summary>
    public void Referee(int shard, ShardOpinion truth)
    {
        var s = _shards[shard];
        if (s.Truth is not null) throw new InvalidOperationException($"shard {shard} of step {Step} already has the coordinator's computation");
        s.Truth = s.Kept = truth;
    }

    /// <summary>
    /// The opinions on <paramref name="shard"/> so far: with the coordinator's, every worker that differs from it is a liar
    /// (its opinion is dropped); else two workers that agree settle a verified shard, two that differ dispute it.
    /// </summary>
    public ShardVerdict Judge(int shard)
    {
        var s = _shards[shard];
        if (s.Truth is { } truth)
        {
            var liars = s.Opinions.Where(o => !o.SameAs(truth)).ToList();
            foreach (var liar in liars) Drop(s, liar);
            return new ShardVerdict(true, false, liars);
        }
        if (!s.Verified) return s.Kept is null ? ShardVerdict.Pending : ShardVerdict.Agreed;
        if (s.Opinions.Count < 2) return ShardVerdict.Pending;
        if (!s.Opinions[0].SameAs(s.Opinions[1])) return ShardVerdict.Dispute;
        s.Kept = s.Opinions[0];
        return ShardVerdict.Agreed;
    }

    /// <summary>
    /// Everything <paramref name="worker"/> delivered in this step stops counting (it lied): the shards that lose an opinion
    /// and that the coordinator has not computed itself are returned, to be computed again.
    /// </summary>
    public IReadOnlyList<int> Discard(int worker)
    {
        var reopened = new List<int>();
        for (int i = 0; i < _shards.Length; i++)
        {
            var s = _shards[i];
            if (s.Truth is not null || s.Opinions.Find(o => o.Worker == worker) is not { } mine) continue;
            Drop(s, mine);
            s.Kept = null; // a verified shard needs its second opinion again
            reopened.Add(i);
        }
        return reopened;
    }

    private void Drop(Shard s, ShardOpinion opinion)
    {
        s.Opinions.Remove(opinion);
        if (ReferenceEquals(s.Kept, opinion)) s.Kept = null;
        Return(opinion.Gradient);
    }

    private void Return(float[]? gradient)
    {
        if (gradient is { Length: > 0 }) _pool.Return(gradient); // a sharded step's opinions hold none
    }

    // ---- the sum ----

    /// <summary>Σ gradients in shard order into <paramref name="total"/>, and the shards' stats folded the same way (all shards settled).</summary>
    public BatchStats Sum(Span<float> total)
    {
        if (_shards.Any(s => s.Kept is null) || !Settled) throw new InvalidOperationException("the step is not complete");
        if (_sliced is not null)
        {
            // the owners added the gradients in shard order; the stats fold the same way
            var stats = new BatchStats(0, 0, 0);
            foreach (var s in _shards) stats += s.Kept!.Stats;
            _total!.AsSpan().CopyTo(total);
            return stats;
        }
        return ShardSum.AddInOrder(_shards.Length, s => _shards[s].Kept!.Gradient, s => _shards[s].Kept!.Stats, total);
    }

    /// <summary>The shards' activity counts added up into <paramref name="total"/> (one per layer).</summary>
    public void SumActivity(Span<int> total)
    {
        total.Clear();
        foreach (var s in _shards)
            for (int l = 0; l < total.Length; l++) total[l] += s.Kept!.Activity[l];
    }

    /// <summary>Each result a worker delivered in this step, with the compute milliseconds it reported.</summary>
    public IEnumerable<(string Worker, double Ms)> ShardTimes() => _times;

    /// <summary>Forgets the compute times of <paramref name="workers"/>' results in this step.</summary>
    public void Untime(IReadOnlyCollection<string> workers) => _times.RemoveAll(t => workers.Contains(t.Worker));

    public void Release()
    {
        foreach (var s in _shards)
        {
            foreach (var o in s.Opinions) Return(o.Gradient);
            Return(s.Truth?.Gradient);
            s.Opinions.Clear();
            s.Truth = s.Kept = null;
        }
    }
}
