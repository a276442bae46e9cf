using DistributedNN.Numerics;

namespace DistributedNN.Model;

/// <summary>
/// A call's shards side by side on a team's threads: each thread (a lane) computes whole shards on a network of its own,
/// each shard's gradient from zero into a buffer of its own, and the buffers are then added in shard order
/// (<see cref="ShardOrder.Sum"/>) — the same bits as one network computing the shards together. For networks whose
/// layers work sample by sample (convolution, pooling), where splitting each product over the threads gains little.
/// Lane 0 is the caller's network; the others, and the shards' buffers, are made on the first call that needs them.
/// </summary>
internal sealed unsafe class ShardLanes(Network network)
{
    private Network[] _lanes = [network];
    private int[][] _laneActivity = [];
    private float[][] _shardBuffers = []; // held: each shard's gradient, at _shardGradients[s]
    private nint[] _shardGradients = [];
    private BatchStats[] _shardStats = [];
    private int[] _bounds = [];
    private readonly int[] _activity = new int[network.Spec.Layers.Count];
    private Action<int>? _laneWork;
    private Call _call;

    private readonly record struct Call(nint Parameters, nint Input, nint Labels, int Shards, int Lanes, long WeightsVersion, DropoutKey Dropout);

    /// <summary>Per layer, the last call's <see cref="ActivationHealth"/> counts summed over its shards.</summary>
    public ReadOnlySpan<int> Activity => _activity;

    /// <summary>As <see cref="Network.Gradient"/>, the shards of <paramref name="bounds"/> on the threads of <paramref name="team"/>.</summary>
    public BatchStats Gradient(GemmTeam team, float* p, float* x, int* labels, ReadOnlySpan<int> bounds, float* g, long weightsVersion, DropoutKey dropout)
    {
        int shards = bounds.Length - 1, lanes = System.Math.Min(team.Threads, shards);
        Grow(lanes, shards);
        bounds.CopyTo(_bounds);
        _call = new Call((nint)p, (nint)x, (nint)labels, shards, lanes, weightsVersion, dropout);
        team.Run(lanes, _laneWork!);

        Array.Clear(_activity);
        foreach (var counts in _laneActivity.AsSpan(0, lanes))
            for (int l = 0; l < _activity.Length; l++) _activity[l] += counts[l];
        var total = new BatchStats(0, 0, 0);
        for (int s = 0; s < shards; s++) total += _shardStats[s];
        var stored = new Stored(_shardGradients, _shardStats, shards, network.Spec.ParameterCount);
        ShardOrder.Sum(ref stored, new Span<float>(g, network.Spec.ParameterCount), default);
        return total;
    }

    // (loops, not lambdas: a lambda's closure would be allocated on every call)
    private void Grow(int lanes, int shards)
    {
        if (_lanes.Length < lanes)
        {
            _lanes = new Network[lanes];
            _laneActivity = new int[lanes][];
            for (int t = 0; t < lanes; t++)
            {
                _lanes[t] = t == 0 ? network : new Network(network.Spec, network.MaxRows) { LabelSmoothing = network.LabelSmoothing };
                _laneActivity[t] = new int[network.Spec.Layers.Count];
            }
            _laneWork = LaneWork;
        }
        if (_shardGradients.Length < shards)
        {
            _shardBuffers = new float[shards][];
            _shardGradients = new nint[shards];
            for (int s = 0; s < shards; s++)
            {
                _shardBuffers[s] = Pinned.Floats(network.Spec.ParameterCount, out var gradient);
                _shardGradients[s] = (nint)gradient;
            }
            _shardStats = new BatchStats[shards];
            _bounds = new int[shards + 1];
        }
    }

    // lane t computes shards t, t + lanes, … on its network, each into that shard's buffer, its products on its own thread
    private void LaneWork(int lane)
    {
        var c = _call;
        var net = _lanes[lane];
        var counts = _laneActivity[lane];
        Array.Clear(counts);
        net.Prepare((float*)c.Parameters, c.WeightsVersion, GemmTeam.CallingThread);
        Span<int> one = stackalloc int[2];
        int inputs = network.Spec.InputSize;
        for (int s = lane; s < c.Shards; s += c.Lanes)
        {
            int start = _bounds[s], n = _bounds[s + 1] - start;
            _shardStats[s] = default;
            if (n == 0) continue;
            one[1] = n;
            _shardStats[s] = net.Train((float*)c.Parameters, (float*)c.Input + (long)start * inputs, new ReadOnlySpan<int>((int*)c.Labels + start, n), n,
                one, (float*)_shardGradients[s], c.Dropout with { FirstShard = c.Dropout.FirstShard + s }, GemmTeam.CallingThread);
            for (int l = 0; l < counts.Length; l++) counts[l] += net.Activity[l];
        }
    }

    /// <summary>The shards' gradients as they lie in their buffers (an empty shard has none).</summary>
    private readonly struct Stored(nint[] gradients, BatchStats[] stats, int count, int length) : ShardOrder.IShards
    {
        public int Count => count;
        public ReadOnlySpan<float> Part(int shard, Span<float> scratch) => stats[shard].Count == 0 ? default : new(((float*)gradients[shard]), length);
    }
}
