using DistributedNN.Model.Layers;
using DistributedNN.Numerics;

namespace DistributedNN.Model;

/// <summary>
/// The engine: one network of <see cref="Layer"/>s, a plain dense stack being a graph whose layers happen to be dense.
/// Forward runs the layers in order, backward in reverse; a layer's dE/dA is complete when every later layer reading it
/// has delivered its part. A call runs over all its rows at once — the forward pass, the loss's δ and every dE/dA depend
/// on each row alone — and only the parameter gradients see the shard bounds: each shard's part is summed from zero and
/// the parts added in shard order (<see cref="Gemm.MatMulSegmented"/>, <see cref="ShardOrder.Sum"/>), the same bits as
/// computing every shard on its own node. Dropout masks restart their stream at each shard; activity is counted per shard.
/// Buffers are allocated once; not thread-safe.
/// </summary>
internal sealed unsafe class Network
{
    private readonly NetworkSpec _spec;
    private readonly Layer[] _layers;
    private readonly float[] _scratchBuffer, _zerosBuffer; // held: the two below point into them
    private readonly float* _scratch, _zeros; // a source's part of dE/dA before it is added, [MaxRows × widest]; a zero bias
    private readonly int[] _activity;
    private readonly bool _dropout;
    private Rng[] _shardStreams = [];
    private nint _preparedFrom; // the weights the layers were prepared for, by address and version
    private long _preparedVersion = -1;

    /// <summary>ε of the training loss's smoothed targets (cross-entropy only); 0: one-hot.</summary>
    public float LabelSmoothing { get; init; }

    public Network(NetworkSpec spec, int maxRows)
    {
        _spec = spec;
        MaxRows = maxRows;
        var layers = new List<Layer>();
        for (int l = 0; l < spec.Layers.Count; l++) layers.Add(Layer.Create(spec, l, layers, maxRows));
        _layers = layers.ToArray();
        _scratchBuffer = Pinned.Floats((long)maxRows * spec.MaxWidth, out _scratch);
        _zerosBuffer = Pinned.Floats(spec.MaxWidth, out _zeros);
        _activity = new int[spec.Layers.Count];
        _dropout = spec.Layers.Any(l => l.Kind == LayerKind.Dropout && l.Rate > 0);
    }

    public NetworkSpec Spec => _spec;
    public int MaxRows { get; }

    /// <summary>Per layer, the last training call's <see cref="ActivationHealth"/> count, summed over its shards.</summary>
    public ReadOnlySpan<int> Activity => _activity;

    /// <summary>The output layer's A of the last call, [rows × OutputSize].</summary>
    public ReadOnlySpan<float> Output(int rows) => new(_layers[^1].Output, rows * _spec.OutputSize);

    /// <summary>Inference over <paramref name="rows"/> samples: dropout passes everything.</summary>
    public void Forward(float* p, float* x, int rows, long weightsVersion, GemmTeam gemm)
    {
        Prepare(p, weightsVersion, gemm);
        var pass = new Pass { Parameters = p, Input = x, Rows = rows, Gemm = gemm, Scratch = _scratch, Zeros = _zeros };
        foreach (var layer in _layers) layer.Forward(pass);
    }

    /// <summary>Loss and gradient of the call's rows, as <see cref="Backprop.Gradient(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{int}, int, ReadOnlySpan{int}, Span{float}, long, DropoutKey)"/>.</summary>
    public BatchStats Gradient(float* p, float* x, ReadOnlySpan<int> labels, int rows, ReadOnlySpan<int> shards, float* g, long weightsVersion,
        DropoutKey dropout, GemmTeam gemm)
    {
        Prepare(p, weightsVersion, gemm);
        return Train(p, x, labels, rows, shards, g, dropout, gemm);
    }

    /// <summary>Readies the layers for the weights <paramref name="p"/> of version <paramref name="weightsVersion"/> unless they are (−1: unknown, always).</summary>
    public void Prepare(float* p, long weightsVersion, GemmTeam gemm)
    {
        if (weightsVersion >= 0 && weightsVersion == _preparedVersion && (nint)p == _preparedFrom) return;
        _preparedVersion = weightsVersion;
        _preparedFrom = (nint)p;
        var pass = new Pass { Parameters = p, Input = null, Rows = 0, Gemm = gemm };
        foreach (var layer in _layers) layer.Prepare(pass);
    }

    /// <summary><see cref="Gradient"/> for weights the layers are prepared for.</summary>
    public BatchStats Train(float* p, float* x, ReadOnlySpan<int> labels, int rows, ReadOnlySpan<int> shards, float* g, DropoutKey dropout, GemmTeam gemm)
    {
        var pass = new Pass
        {
            Parameters = p, Input = x, Rows = rows, Gemm = gemm, Gradient = g, Shards = shards, Scratch = _scratch, Zeros = _zeros,
            Dropout = _dropout ? Streams(dropout, shards.Length - 1) : default,
        };
        foreach (var layer in _layers) layer.Forward(pass);
        CountActivity(shards);
        var stats = OutputDelta(labels, shards);
        Backward(pass);
        return stats;
    }

    /// <summary>
    /// Loss and correct count of the last forward pass against <paramref name="labels"/>, continuing the running sums of
    /// <paramref name="running"/> sample by sample (see <see cref="Backprop.Evaluate"/>).
    /// </summary>
    public BatchStats Evaluate(ReadOnlySpan<int> labels, int rows, BatchStats running)
    {
        var output = _layers[^1];
        int n = _spec.OutputSize;
        double loss = running.LossSum;
        int correct = running.Correct;
        for (int r = 0; r < rows; r++)
        {
            loss += Losses.SampleLoss(_spec.Loss, output.Z + (long)r * n, output.Output + (long)r * n, labels[r], n);
            if (Losses.Predict(output.Output + (long)r * n, n) == labels[r]) correct++;
        }
        return new BatchStats(loss, correct, running.Count + rows);
    }

    // each shard's dropout stream, restarted at its first value
    private ReadOnlySpan<Rng> Streams(DropoutKey dropout, int shards)
    {
        if (_shardStreams.Length < shards) _shardStreams = [.. _shardStreams, .. Enumerable.Range(0, shards - _shardStreams.Length).Select(_ => new Rng(0))];
        for (int s = 0; s < shards; s++) dropout.Start(_shardStreams[s], s);
        return _shardStreams.AsSpan(0, shards);
    }

    private void CountActivity(ReadOnlySpan<int> shards)
    {
        for (int l = 0; l < _layers.Length; l++)
            _activity[l] = ActivationHealth.Count(_spec.Layers[l].Activation, _layers[l].Output, _spec.Layers[l].Outputs, shards, _scratch);
    }

    // the output layer's δ from the loss, and the loss and correct count of each shard added in shard order
    private BatchStats OutputDelta(ReadOnlySpan<int> labels, ReadOnlySpan<int> shards)
    {
        var output = _layers[^1];
        int n = _spec.OutputSize;
        var total = new BatchStats(0, 0, 0);
        for (int s = 0; s + 1 < shards.Length; s++)
        {
            double loss = 0;
            int correct = 0;
            for (int r = shards[s]; r < shards[s + 1]; r++)
            {
                int label = labels[r];
                if (!Losses.IsValidLabel(label, n)) throw new UserErrorException($"label {label} does not fit the network's {n} output(s)");
                long at = (long)r * n;
                loss += Losses.SampleLossAndDelta(_spec.Loss, output.Spec.Activation, output.Z + at, output.Output + at, label, output.Delta + at, n, LabelSmoothing);
                if (Losses.Predict(output.Output + at, n) == label) correct++;
            }
            total += new BatchStats(loss, correct, shards[s + 1] - shards[s]);
        }
        return total;
    }

    private void Backward(in Pass pass)
    {
        for (int l = 0; l < _layers.Length; l++) _layers[l].BeginBackward(fromLoss: l == _layers.Length - 1);
        for (int l = _layers.Length - 1; l >= 0; l--)
        {
            if (l < _layers.Length - 1) _layers[l].ApplyActivationDerivative(pass); // the output layer's δ came with the loss
            _layers[l].Backward(pass);
        }
    }
}
