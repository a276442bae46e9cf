using DistributedNN.Numerics;

namespace DistributedNN.Model;

/// <summary>
/// Which dropout masks a gradient call draws: those of step <see cref="Step"/> of <see cref="Epoch"/> under the run's
/// <see cref="Seed"/>, the call's first shard being shard <see cref="FirstShard"/> of the step. A shard's masks depend
/// on nothing else, so a shard computed on a worker drops the same units as in a single process.
/// </summary>
public readonly record struct DropoutKey(ulong Seed, int Epoch, int Step, int FirstShard = 0)
{
    internal Rng For(int shard) => Start(new Rng(0), shard);

    /// <summary>Restarts <paramref name="rng"/> as the stream of the call's shard <paramref name="shard"/>.</summary>
    internal Rng Start(Rng rng, int shard)
    {
        rng.Restart(Seed, stream: 3, index: ((ulong)(uint)Epoch << 40) ^ ((ulong)(uint)Step << 16) ^ (ulong)(uint)(FirstShard + shard));
        return rng;
    }
}

/// <summary>
/// Forward pass and backpropagation through a network that is a graph (<see cref="NetworkSpec.IsPlainStack"/> false):
/// dense, convolution, pooling, flatten, dropout, add and concat layers, each reading earlier layers.
///
/// Forward runs the layers in order. Backward runs them in reverse: a layer's dE/d(output) is complete when every
/// later layer that reads it has added its part — the chain rule's sum over every path from the layer to the loss —
/// and then becomes δ = dE/da ⊙ a'(z), the layer's parameter gradient, and the parts it passes to its own sources.
///
/// A call with several shards runs them one after another, each from zero, and adds their parameter gradients in shard
/// order: the same bits as computing each shard on its own node and summing in order. With a <see cref="Team"/> of
/// several threads the shards run side by side, one network copy (lane) per thread, and are added in the same order:
/// the same bits again. Buffers are allocated once (the lanes' on the first call with a team); not thread-safe.
/// </summary>
internal sealed unsafe class GraphNetwork
{
    private readonly NetworkSpec _spec;
    private readonly float[][] _out;      // per layer, [MaxRows × Outputs]: after the activation
    private readonly float[][] _grad;     // per layer, [MaxRows × Outputs]: dE/d(output), then δ
    private readonly float[]?[] _mask;    // dropout layers: 0 or 1/(1 − rate) per unit of the last training pass
    private readonly Conv2D?[] _convs;
    private readonly Pool2D?[] _pools;
    private readonly bool[] _hasGrad;
    private readonly int[][] _sources;   // per layer, the layers it reads (−1: the input)
    private readonly float[] _outputZ;    // last layer's z
    private readonly float[] _scratch;    // one contribution to a source's dE/d(output), [MaxRows × MaxWidth]
    private readonly float[] _zeros;      // a zero bias for activations of layers without one
    private readonly float[] _weightsT;   // dense layers' Wᵀ at their weight offsets
    private readonly float[] _shardGradient;
    private readonly float[] _columnSum;
    private readonly int[] _activity;
    private readonly nint[] _outAt, _gradAt; // the pinned buffers' addresses
    private readonly bool _dropout;
    private readonly Rng _dropoutRng = new(0);
    private nint _transposedFrom;
    private long _transposedVersion = -1;
    // shards side by side on the team's threads: a network per lane, a gradient and stats per shard
    private GraphNetwork[] _lanes = [];
    private float[][] _shardGradients = [];
    private BatchStats[] _shardStats = [];
    private int[] _laneBounds = [];
    private Action<int>? _laneWork;
    private LaneCall _call;

    private readonly record struct LaneCall(nint Parameters, nint Input, nint Labels, int Shards, int Parts, long WeightsVersion, DropoutKey Dropout);

    public GraphNetwork(NetworkSpec spec, int maxRows)
    {
        _spec = spec;
        MaxRows = maxRows;
        var layers = spec.Layers;
        _out = layers.Select(l => Pinned(maxRows * l.Outputs)).ToArray();
        _grad = layers.Select(l => Pinned(maxRows * l.Outputs)).ToArray();
        _mask = layers.Select(l => l.Kind == LayerKind.Dropout ? Pinned(maxRows * l.Outputs) : null).ToArray();
        _convs = layers.Select(l => l.Kind == LayerKind.Conv ? new Conv2D(l.Conv) : null).ToArray();
        _pools = layers.Select(l => l.Kind is LayerKind.MaxPool or LayerKind.AvgPool ? new Pool2D(l.Pool, maxRows) : null).ToArray();
        _hasGrad = new bool[layers.Count];
        _sources = layers.Select(NetworkSpec.Sources).ToArray();
        _outputZ = Pinned(maxRows * spec.OutputSize);
        _scratch = Pinned(maxRows * spec.MaxWidth);
        _zeros = Pinned(spec.MaxWidth);
        _weightsT = Pinned(spec.ParameterCount);
        _shardGradient = Pinned(spec.ParameterCount);
        _columnSum = Pinned(spec.MaxWidth);
        _activity = new int[layers.Count];
        _outAt = _out.Select(b => (nint)Address(b)).ToArray();
        _gradAt = _grad.Select(b => (nint)Address(b)).ToArray();
        _dropout = layers.Any(l => l.Kind == LayerKind.Dropout && l.Rate > 0);
    }

    private static float[] Pinned(int n) => GC.AllocateArray<float>(n, pinned: true);

    public int MaxRows { get; }
    /// <summary>Threads: a call's shards run side by side on them, and single products (evaluation) are split over them.</summary>
    public GemmTeam? Team { get; set; }
    /// <summary>The team for a single product, unless the team is busy running this call's shards as lanes.</summary>
    private GemmTeam? Products => _inLanes ? null : Team;
    private bool _inLanes;
    public ReadOnlySpan<int> Activity => _activity;
    public ReadOnlySpan<float> Output(int rows) => _out[^1].AsSpan(0, rows * _spec.OutputSize);

    /// <summary>Inference: dropout passes everything through.</summary>
    public void Forward(float* p, float* x, int rows, long weightsVersion)
    {
        TransposeIfNew(p, weightsVersion);
        ForwardCore(p, x, rows, null);
    }

    /// <summary>Loss and the parameter gradient (sum over samples, shards added in order, overwritten), as <see cref="Backprop.Gradient"/>.</summary>
    public BatchStats Gradient(float* p, float* x, ReadOnlySpan<int> labels, int rows, ReadOnlySpan<int> bounds, float* g, long weightsVersion, DropoutKey dropout)
    {
        if (Team is { Threads: > 1 } team && bounds.Length > 2)
            fixed (int* y = labels)
                return GradientOnLanes(team, p, x, y, bounds, g, weightsVersion, dropout);
        TransposeIfNew(p, weightsVersion);
        Array.Clear(_activity);
        var total = new BatchStats(0, 0, 0);
        bool first = true;
        fixed (float* shardGradient = _shardGradient)
            for (int s = 0; s + 1 < bounds.Length; s++)
            {
                int start = bounds[s], n = bounds[s + 1] - start;
                if (n == 0) continue;
                total += Shard(p, x, labels.Slice(start, n), start, n, s, dropout, first ? g : shardGradient);
                if (!first) Elementwise.AddInto(g, shardGradient, _spec.ParameterCount);
                first = false;
            }
        if (first) new Span<float>(g, _spec.ParameterCount).Clear();
        return total;
    }

    /// <summary>
    /// Shard <paramref name="shard"/> of the call (rows <paramref name="start"/> … + <paramref name="n"/>) on this network: forward
    /// with its dropout masks, its activity counts added, backward from zero into <paramref name="gradient"/>; its loss and correct count.
    /// The caller has transposed the dense weights for <paramref name="p"/>.
    /// </summary>
    private BatchStats Shard(float* p, float* input, ReadOnlySpan<int> labels, int start, int n, int shard, DropoutKey dropout, float* gradient)
    {
        float* x = input + (long)start * _spec.InputSize;
        ForwardCore(p, x, n, _dropout ? dropout.Start(_dropoutRng, shard) : null);
        CountActivity(n);
        var stats = OutputDelta(labels, n);
        Backward(p, x, n, gradient);
        return stats;
    }

    private BatchStats GradientOnLanes(GemmTeam team, float* p, float* x, int* labels, ReadOnlySpan<int> bounds, float* g, long weightsVersion, DropoutKey dropout)
    {
        int shards = bounds.Length - 1, parts = System.Math.Min(team.Threads, shards);
        if (_lanes.Length < parts)
        {
            _lanes = [this, .. Enumerable.Range(1, parts - 1).Select(_ => new GraphNetwork(_spec, MaxRows))];
            _laneWork = LaneWork;
        }
        if (_shardGradients.Length < shards)
        {
            _shardGradients = Enumerable.Range(0, shards).Select(_ => Pinned(_spec.ParameterCount)).ToArray();
            _shardStats = new BatchStats[shards];
            _laneBounds = new int[shards + 1];
        }
        bounds.CopyTo(_laneBounds);
        _call = new LaneCall((nint)p, (nint)x, (nint)labels, shards, parts, weightsVersion, dropout);
        _inLanes = true;
        try { team.Run(parts, _laneWork!); }
        finally { _inLanes = false; }

        // the shards in order, exactly as one after another: the first non-empty one, then each added
        Span<int> activity = stackalloc int[_activity.Length];
        foreach (var lane in _lanes.AsSpan(0, parts))
            for (int l = 0; l < activity.Length; l++) activity[l] += lane._activity[l];
        activity.CopyTo(_activity);
        var total = new BatchStats(0, 0, 0);
        bool first = true;
        for (int s = 0; s < shards; s++)
        {
            if (bounds[s + 1] == bounds[s]) continue;
            total += _shardStats[s];
            fixed (float* shard = _shardGradients[s])
            {
                if (first) new Span<float>(shard, _spec.ParameterCount).CopyTo(new Span<float>(g, _spec.ParameterCount));
                else Elementwise.AddInto(g, shard, _spec.ParameterCount);
            }
            first = false;
        }
        if (first) new Span<float>(g, _spec.ParameterCount).Clear();
        return total;
    }

    // lane t computes shards t, t + parts, … on its own network copy, each into that shard's gradient buffer
    private void LaneWork(int lane)
    {
        var c = _call;
        var net = _lanes[lane];
        Array.Clear(net._activity);
        net.TransposeIfNew((float*)c.Parameters, c.WeightsVersion);
        for (int s = lane; s < c.Shards; s += c.Parts)
        {
            int start = _laneBounds[s], n = _laneBounds[s + 1] - start;
            if (n == 0) continue;
            fixed (float* shard = _shardGradients[s])
                _shardStats[s] = net.Shard((float*)c.Parameters, (float*)c.Input, new ReadOnlySpan<int>((int*)c.Labels + start, n), start, n, s,
                    c.Dropout, shard);
        }
    }

    /// <summary>Loss and correct count of the last forward pass, continuing <paramref name="running"/> (see <see cref="Backprop.Evaluate"/>).</summary>
    public BatchStats Evaluate(ReadOnlySpan<int> labels, int rows, BatchStats running)
    {
        fixed (float* z = _outputZ)
            return Backprop.Score(_spec, z, Out(_spec.Layers.Count - 1), labels, rows, running);
    }

    private void TransposeIfNew(float* p, long weightsVersion)
    {
        if (weightsVersion >= 0 && weightsVersion == _transposedVersion && (nint)p == _transposedFrom) return;
        _transposedVersion = weightsVersion;
        _transposedFrom = (nint)p;
        fixed (float* wT = _weightsT)
            for (int l = 0; l < _spec.Layers.Count; l++)
            {
                var layer = _spec.Layers[l];
                if (layer.Kind != LayerKind.Dense) continue;
                int offset = _spec.WeightOffset(l);
                if (Products is { } team) team.Transpose(layer.Outputs, layer.Inputs, p + offset, wT + offset);
                else Gemm.Transpose(layer.Outputs, layer.Inputs, p + offset, wT + offset);
            }
    }

    private float* Out(int layer) => (float*)_outAt[layer];
    private float* Grad(int layer) => (float*)_gradAt[layer];
    private float* Source(int from, float* x) => from < 0 ? x : Out(from);

    private void ForwardCore(float* p, float* x, int rows, Rng? dropout)
    {
        var layers = _spec.Layers;
        fixed (float* wT = _weightsT)
        fixed (float* zeros = _zeros)
            for (int l = 0; l < layers.Count; l++)
            {
                var layer = layers[l];
                var from = _sources[l];
                float* src = Source(from[0], x), a = Out(l);
                int inN = layer.Inputs, outN = layer.Outputs;
                long count = (long)rows * outN;
                float* bias = zeros;
                switch (layer.Kind)
                {
                    case LayerKind.Dense:
                        // Z = A_src · Wᵀ [rows × out]
                        if (Products is { } team) team.MatMul(rows, outN, inN, src, inN, 1, wT + _spec.WeightOffset(l), outN, a, outN, accumulate: false);
                        else Gemm.MatMul(rows, outN, inN, src, inN, 1, wT + _spec.WeightOffset(l), outN, a, outN, accumulate: false);
                        bias = p + _spec.BiasOffset(l);
                        break;
                    case LayerKind.Conv:
                        _convs[l]!.Forward(new ReadOnlySpan<float>(src, rows * inN), rows,
                            new ReadOnlySpan<float>(p + _spec.WeightOffset(l), layer.ParameterCount), new Span<float>(a, (int)count));
                        break;
                    case LayerKind.MaxPool or LayerKind.AvgPool:
                        _pools[l]!.Forward(new ReadOnlySpan<float>(src, rows * inN), rows, new Span<float>(a, (int)count));
                        break;
                    case LayerKind.Flatten:
                        new ReadOnlySpan<float>(src, (int)count).CopyTo(new Span<float>(a, (int)count));
                        break;
                    case LayerKind.Dropout:
                        if (dropout is null || layer.Rate == 0)
                        {
                            new ReadOnlySpan<float>(src, (int)count).CopyTo(new Span<float>(a, (int)count));
                            break;
                        }
                        fixed (float* m = _mask[l])
                        {
                            float keep = 1f / (1f - layer.Rate);
                            for (long i = 0; i < count; i++)
                            {
                                m[i] = dropout.NextDouble() < layer.Rate ? 0f : keep;
                                a[i] = src[i] * m[i];
                            }
                        }
                        break;
                    case LayerKind.Add:
                        new ReadOnlySpan<float>(src, (int)count).CopyTo(new Span<float>(a, (int)count));
                        for (int k = 1; k < from.Length; k++) Elementwise.AddInto(a, Source(from[k], x), (int)count);
                        break;
                    case LayerKind.Concat:
                        for (int r = 0; r < rows; r++)
                        {
                            float* row = a + (long)r * outN;
                            foreach (int f in from)
                            {
                                int w = f < 0 ? _spec.InputSize : layers[f].Outputs;
                                new ReadOnlySpan<float>(Source(f, x) + (long)r * w, w).CopyTo(new Span<float>(row, w));
                                row += w;
                            }
                        }
                        break;
                }
                bool last = l == layers.Count - 1;
                if (!last && layer.Activation == Activation.Identity && bias == zeros) continue;
                fixed (float* zOut = _outputZ)
                    Backprop.BiasActivate(layer.Activation, a, bias, rows, outN, last ? zOut : null);
            }
    }

    // arrays from GC.AllocateArray(pinned: true) never move
    private static float* Address(float[] pinned) => (float*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref pinned[0]);

    private void CountActivity(int rows)
    {
        Span<int> bounds = [0, rows];
        fixed (float* scratch = _columnSum)
            for (int l = 0; l < _spec.Layers.Count; l++)
                _activity[l] += ActivationHealth.Count(_spec.Layers[l].Activation, Out(l), _spec.Layers[l].Outputs, bounds, scratch);
    }

    private BatchStats OutputDelta(ReadOnlySpan<int> labels, int rows)
    {
        int last = _spec.Layers.Count - 1;
        fixed (float* z = _outputZ)
            return Backprop.OutputDelta(_spec, z, Out(last), Grad(last), labels, 0, rows);
    }

    private void Backward(float* p, float* x, int rows, float* g)
    {
        var layers = _spec.Layers;
        Array.Clear(_hasGrad);
        _hasGrad[^1] = true; // δ of the output layer, from the loss
        float* scratch = Address(_scratch);
        for (int l = layers.Count - 1; l >= 0; l--)
        {
            var layer = layers[l];
            if (!_hasGrad[l]) throw new InvalidOperationException($"layer {l + 1} got no gradient"); // the spec's check rules this out
            var from = _sources[l];
            float* a = Out(l), d = Grad(l);
            int inN = layer.Inputs, outN = layer.Outputs;
            long count = (long)rows * outN;
            if (l != layers.Count - 1 && layer.Activation != Activation.Identity)
                for (int r = 0; r < rows; r++) Activations.BackwardRow(layer.Activation, a + (long)r * outN, d + (long)r * outN, outN);

            float* src = Source(from[0], x);

            switch (layer.Kind)
            {
                case LayerKind.Dense:
                {
                    // dW = δᵀ · A_src [out × in], db = Σ_rows δ, dE/dA_src = δ · W
                    float* gw = g + _spec.WeightOffset(l);
                    if (Products is { } team) team.MatMul(outN, inN, rows, d, 1, outN, src, inN, gw, inN, accumulate: false);
                    else Gemm.MatMul(outN, inN, rows, d, 1, outN, src, inN, gw, inN, accumulate: false);
                    ColumnSums(d, rows, outN, g + _spec.BiasOffset(l));
                    int f = from[0];
                    if (f < 0) break;
                    float* t = Target(f);
                    if (Products is { } team2) team2.MatMul(rows, inN, outN, d, outN, 1, p + _spec.WeightOffset(l), inN, t, inN, accumulate: false);
                    else Gemm.MatMul(rows, inN, outN, d, outN, 1, p + _spec.WeightOffset(l), inN, t, inN, accumulate: false);
                    Deliver(f, t, (long)rows * inN);
                    break;
                }
                case LayerKind.Conv:
                {
                    int f = from[0];
                    float* t = f < 0 ? null : Target(f);
                    _convs[l]!.Backward(new ReadOnlySpan<float>(src, rows * inN), new ReadOnlySpan<float>(d, (int)count), rows,
                        new ReadOnlySpan<float>(p + _spec.WeightOffset(l), layer.ParameterCount),
                        new Span<float>(g + _spec.WeightOffset(l), layer.ParameterCount), f < 0 ? default : new Span<float>(t, rows * inN));
                    if (f >= 0) Deliver(f, t, (long)rows * inN);
                    break;
                }
                case LayerKind.MaxPool or LayerKind.AvgPool:
                {
                    int f = from[0];
                    if (f < 0) break;
                    float* t = Target(f);
                    _pools[l]!.Backward(new ReadOnlySpan<float>(d, (int)count), rows, new Span<float>(t, rows * inN));
                    Deliver(f, t, (long)rows * inN);
                    break;
                }
                case LayerKind.Flatten or LayerKind.Dropout or LayerKind.Add:
                    if (layer.Kind == LayerKind.Dropout && layer.Rate > 0)
                        fixed (float* m = _mask[l])
                            for (long i = 0; i < count; i++) d[i] *= m[i];
                    foreach (int f in from)
                    {
                        if (f < 0) continue;
                        float* t = Target(f);
                        new ReadOnlySpan<float>(d, (int)count).CopyTo(new Span<float>(t, (int)count));
                        Deliver(f, t, count);
                    }
                    break;
                case LayerKind.Concat:
                {
                    int offset = 0;
                    foreach (int f in from)
                    {
                        int w = f < 0 ? _spec.InputSize : layers[f].Outputs;
                        if (f >= 0)
                        {
                            float* t = Target(f);
                            for (int r = 0; r < rows; r++)
                                new ReadOnlySpan<float>(d + (long)r * outN + offset, w).CopyTo(new Span<float>(t + (long)r * w, w));
                            Deliver(f, t, (long)rows * w);
                        }
                        offset += w;
                    }
                    break;
                }
            }
        }
    }

    // where a layer's dE/d(source) goes: straight into the source's buffer if nothing reached it yet, else into scratch and added
    private float* Target(int f) => _hasGrad[f] ? Address(_scratch) : Grad(f);

    private void Deliver(int f, float* written, long n)
    {
        if (_hasGrad[f]) Elementwise.AddInto(Grad(f), written, (int)n);
        _hasGrad[f] = true;
    }

    private static void ColumnSums(float* d, int rows, int n, float* db)
    {
        new Span<float>(db, n).Clear();
        for (int r = 0; r < rows; r++) Elementwise.AddInto(db, d + (long)r * n, n);
    }
}
