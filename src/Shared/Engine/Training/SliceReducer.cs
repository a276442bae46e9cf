using DistributedNN.Numerics;

namespace DistributedNN.Training;

/// <summary>
/// The owner of one slice [Offset, Offset + Length) of the flat parameter vector in a sharded step (a reduce-scatter, then
/// an all-gather): it takes each shard's gradient restricted to the slice, adds them in shard order —
/// ((G₀ + G₁) + G₂) + …, empty shards skipped, the very additions of <see cref="ShardOrder.Sum"/> — and, once all K are
/// in, applies the optimizer to its slice. The optimizer's rules are element-wise, so the slice's new weights are the
/// same bits as the same elements of a whole-vector update: any cut of the vector, any owner, gives the same model.
/// Not thread-safe: its caller serializes the calls.
/// </summary>
public sealed class SliceReducer
{
    private readonly int _shards;
    private readonly float[]?[] _waiting;
    private readonly int[] _samples;
    private readonly bool[] _arrived;
    private readonly List<float[]> _spares = new();
    private int _next, _total;
    private bool _first = true;

    /// <param name="version">the version of the weights the slice holds (steps applied so far)</param>
    /// <param name="optimizerSteps">the updates the optimizer has applied (Adam's bias correction counts them)</param>
    public SliceReducer(int offset, int length, int shards, OptimizerSettings settings, long optimizerSteps, long version)
    {
        if (length <= 0 || offset < 0 || shards <= 0) throw new ArgumentOutOfRangeException(nameof(length), "a slice needs a length, an offset and shards");
        (Offset, Length, _shards, Version) = (offset, length, shards, version);
        Optimizer = new Optimizer(settings, length, origin: offset) { Steps = optimizerSteps };
        Weights = GC.AllocateUninitializedArray<float>(length, pinned: true);
        Sum = GC.AllocateUninitializedArray<float>(length, pinned: true);
        _waiting = new float[]?[shards];
        _samples = new int[shards];
        _arrived = new bool[shards];
    }

    public int Offset { get; }
    public int Length { get; }
    /// <summary>The slice's weights (their version is <see cref="Version"/>).</summary>
    public float[] Weights { get; }
    /// <summary>The slice's optimizer state (velocity, moments) and step count.</summary>
    public Optimizer Optimizer { get; }
    /// <summary>After a completed step: that step's gradient sum over the slice (what the coordinator's replica applies).</summary>
    public float[] Sum { get; }
    /// <summary>The version of <see cref="Weights"/>: a step's parts are for this version.</summary>
    public long Version { get; private set; }
    /// <summary>After a completed step: its sample count (the optimizer's scale is its inverse).</summary>
    public int LastSamples { get; private set; }

    /// <summary>
    /// Shard <paramref name="shard"/>'s gradient over the slice, computed from weights of <paramref name="version"/> on
    /// <paramref name="samples"/> samples. Parts for another version, and a second copy of a shard (a redone shard: the same
    /// bits), are ignored. True when it was the step's last part: <see cref="Apply"/> may then update the slice.
    /// </summary>
    public bool Offer(long version, int shard, ReadOnlySpan<float> part, int samples)
    {
        if (version != Version || (uint)shard >= (uint)_shards || _arrived[shard]) return false;
        if (part.Length != Length) throw new ArgumentException($"a part of {part.Length} values for a slice of {Length}");
        _arrived[shard] = true;
        _samples[shard] = samples;
        if (shard == _next) Add(part, samples);
        else
        {
            var copy = Spare();
            part.CopyTo(copy);
            _waiting[shard] = copy;
        }
        while (_next < _shards && _arrived[_next] && _waiting[_next] is { } held)
        {
            Add(held, _samples[_next]);
            _spares.Add(held);
            _waiting[_next - 1] = null;
        }
        return AllIn;
    }

    /// <summary>Every shard's part of the step is in (and summed).</summary>
    public bool AllIn => _next == _shards;

    private void Add(ReadOnlySpan<float> part, int samples)
    {
        if (samples > 0)
        {
            if (_first) part.CopyTo(Sum);
            else Elementwise.AddInto(Sum, part);
            _first = false;
        }
        _total += samples;
        _next++;
    }

    /// <summary>The step's update of the slice (all parts in): <see cref="Weights"/> are then of version + 1, <see cref="Sum"/> the step's sum.</summary>
    public void Apply()
    {
        if (!AllIn) throw new InvalidOperationException("the step's parts are not all in");
        if (_first) Array.Clear(Sum); // every shard empty: G = 0
        LastSamples = _total;
        Optimizer.Step(Weights, Sum, 1f / _total);
        Version++;
        Array.Clear(_arrived);
        (_next, _total, _first) = (0, 0, true);
    }

    private float[] Spare()
    {
        if (_spares.Count == 0) return GC.AllocateUninitializedArray<float>(Length);
        var spare = _spares[^1];
        _spares.RemoveAt(_spares.Count - 1);
        return spare;
    }
}
