using DistributedNN.Numerics;

namespace DistributedNN.Model;

/// <summary>Loss sum, correct predictions and sample count of a batch or shard.</summary>
public readonly record struct BatchStats(double LossSum, int Correct, int Count)
{
    public static BatchStats operator +(BatchStats a, BatchStats b) => new(a.LossSum + b.LossSum, a.Correct + b.Correct, a.Count + b.Count);
}

/// <summary>
/// Forward pass and backpropagation for a <see cref="NetworkSpec"/> over mini-batches of up to
/// <see cref="MaxRows"/> samples, with every buffer allocated once (no allocation per step).
///
/// Per layer, batch-major (A is [rows × in], W is [out × in]):
///   forward   Z = A_prev·Wᵀ,  A = act(Z + b)
///   backward  δ = dE/dA ⊙ act'(Z)      (for the output layer: from the loss)
///             dW = δᵀ·A_prev,  db = Σ_rows δ,  dE/dA_prev = δ·W
/// The chain rule summed over every path through the network is exactly the product δ·W: each
/// input of a layer feeds every output, and dE/da_i = Σ_j δ_j·w_ji adds up those paths.
///
/// The gradient is the SUM over samples (not the mean) of each shard, and shards are added in
/// index order: see <see cref="Gradient"/>. A user divides by the batch size (the optimizers do).
/// Not thread-safe: one instance per thread.
/// </summary>
public sealed unsafe class Backprop
{
    private readonly NetworkSpec _spec;
    private readonly GraphNetwork? _graph;   // a network that is not a plain dense stack: computed by the graph engine
    private readonly float[][] _activations; // per layer, [MaxRows × Outputs], after the activation
    private readonly float[] _outputZ;       // last layer's z, [MaxRows × OutputSize]
    private readonly float[] _deltaA, _deltaB; // δ ping-pong, [MaxRows × MaxWidth]
    private readonly float[] _weightsT;      // Wᵀ [in × out] of each layer, at the layer's weight offset
    private readonly float[] _columnSum;     // one shard's Σ_rows δ (and scratch for the activity counts)
    private readonly int[] _activity;        // per layer, the last Gradient call's ActivationHealth count
    private nint _transposedFrom;            // the weights _weightsT holds, by address and version
    private long _transposedVersion = -1;

    public Backprop(NetworkSpec spec, int maxRows)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxRows);
        _spec = spec;
        MaxRows = maxRows;
        if (!spec.IsPlainStack)
        {
            _graph = new GraphNetwork(spec, maxRows);
            _activations = [];
            _outputZ = _deltaA = _deltaB = _weightsT = _columnSum = [];
            _activity = [];
            return;
        }
        _activations = spec.Layers.Select(l => Pinned(maxRows * l.Outputs)).ToArray();
        _outputZ = Pinned(maxRows * spec.OutputSize);
        _deltaA = Pinned(maxRows * spec.MaxWidth);
        _deltaB = Pinned(maxRows * spec.MaxWidth);
        _weightsT = Pinned(spec.ParameterCount);
        _columnSum = Pinned(spec.MaxWidth);
        _activity = new int[spec.Layers.Count];
    }

    private static float[] Pinned(int n) => GC.AllocateArray<float>(n, pinned: true);

    public NetworkSpec Spec => _spec;
    public int MaxRows { get; }

    /// <summary>The output layer's activations of the last forward pass, [rows × OutputSize].</summary>
    public ReadOnlySpan<float> Output(int rows) => _graph is not null ? _graph.Output(rows) : _activations[^1].AsSpan(0, rows * _spec.OutputSize);

    /// <summary>Runs the network on <paramref name="rows"/> samples; returns the outputs [rows × OutputSize].</summary>
    /// <param name="weightsVersion">
    /// When the caller names the version of <paramref name="parameters"/> (≥ 0), the transposed weights are
    /// reused while the version and the buffer stay the same (a worker's shards and evaluation chunks).
    /// </param>
    public ReadOnlySpan<float> Forward(ReadOnlySpan<float> parameters, ReadOnlySpan<float> input, int rows, long weightsVersion = -1)
    {
        CheckShapes(parameters, input, rows);
        fixed (float* p = parameters)
        fixed (float* x = input)
        {
            if (_graph is not null) _graph.Forward(p, x, rows, weightsVersion);
            else ForwardCore(p, x, rows, weightsVersion);
        }
        return Output(rows);
    }

    /// <summary>
    /// Loss and gradient of the samples in <paramref name="input"/> (rows of InputSize) with class
    /// <paramref name="labels"/>. <paramref name="shardBounds"/> cuts the rows into shards
    /// [b₀=0, b₁), [b₁, b₂) … [.., rows): each shard's gradient (sum over its samples) is computed
    /// from zero and added to <paramref name="gradient"/> in shard order, so the result equals, bit for
    /// bit, summing separately computed shard gradients in order — on one machine or many.
    /// The gradient is overwritten, not accumulated into. <paramref name="dropout"/> names the step and first shard, whose
    /// dropout masks a network with dropout layers draws.
    /// </summary>
    public BatchStats Gradient(ReadOnlySpan<float> parameters, ReadOnlySpan<float> input, ReadOnlySpan<int> labels, int rows,
        ReadOnlySpan<int> shardBounds, Span<float> gradient, long weightsVersion = -1, DropoutKey dropout = default)
    {
        CheckShapes(parameters, input, rows);
        if (labels.Length < rows) throw new ArgumentException($"{labels.Length} labels for {rows} rows");
        if (gradient.Length != _spec.ParameterCount) throw new ArgumentException($"gradient holds {gradient.Length} values, the network has {_spec.ParameterCount}");
        if (shardBounds.Length < 2 || shardBounds[0] != 0 || shardBounds[^1] != rows)
            throw new ArgumentException("shard bounds must run from 0 to the row count");

        fixed (float* p = parameters)
        fixed (float* x = input)
        fixed (float* g = gradient)
        {
            if (_graph is not null) return _graph.Gradient(p, x, labels, rows, shardBounds, g, weightsVersion, dropout);
            ForwardCore(p, x, rows, weightsVersion);
            CountActivity(shardBounds);
            var stats = OutputDelta(labels, shardBounds);
            BackwardCore(p, x, rows, shardBounds, g);
            return stats;
        }
    }

    /// <summary>
    /// Per layer, the last <see cref="Gradient"/> call's dead ReLU (shard, unit) pairs or saturated sigmoid/tanh
    /// outputs (<see cref="ActivationHealth.Count"/>), summed over its shards.
    /// </summary>
    public ReadOnlySpan<int> Activity => _graph is not null ? _graph.Activity : _activity;

    private void CountActivity(ReadOnlySpan<int> bounds)
    {
        fixed (float* scratch = _columnSum)
            for (int l = 0; l < _spec.Layers.Count; l++)
                fixed (float* a = _activations[l])
                    _activity[l] = ActivationHealth.Count(_spec.Layers[l].Activation, a, _spec.Layers[l].Outputs, bounds, scratch);
    }

    /// <summary>
    /// Threads for the matrix products (null: the calling thread only). The results have the same bits with or
    /// without a team, with any number of threads.
    /// </summary>
    public GemmTeam? Team
    {
        get => _team;
        set
        {
            _team = value;
            if (_graph is not null) _graph.Team = value;
        }
    }
    private GemmTeam? _team;

    /// <summary>Single-shard convenience: the whole batch is one shard.</summary>
    public BatchStats Gradient(ReadOnlySpan<float> parameters, ReadOnlySpan<float> input, ReadOnlySpan<int> labels, int rows, Span<float> gradient,
        long weightsVersion = -1, DropoutKey dropout = default)
    {
        Span<int> bounds = [0, rows];
        return Gradient(parameters, input, labels, rows, bounds, gradient, weightsVersion, dropout);
    }

    /// <summary>
    /// Loss and correct count of the last forward pass against <paramref name="labels"/> (no gradient),
    /// continuing the running sums of <paramref name="running"/> sample by sample, so that a long
    /// stretch evaluated in several passes sums exactly as if it were one.
    /// </summary>
    public BatchStats Evaluate(ReadOnlySpan<int> labels, int rows, BatchStats running = default)
    {
        if (_graph is not null) return _graph.Evaluate(labels, rows, running);
        fixed (float* a = _activations[^1])
        fixed (float* z = _outputZ)
            return Score(_spec, z, a, labels, rows, running);
    }

    /// <summary>
    /// a = act(z + b) row by row, in place over [rows × n]; for the output layer (<paramref name="keepZ"/> not null) z + b
    /// is kept there too, for a stable cross-entropy.
    /// </summary>
    internal static void BiasActivate(Activation activation, float* a, float* bias, int rows, int n, float* keepZ)
    {
        for (int r = 0; r < rows; r++)
        {
            float* row = a + (long)r * n;
            if (keepZ is not null)
            {
                float* zr = keepZ + (long)r * n;
                for (int j = 0; j < n; j++) zr[j] = row[j] + bias[j];
            }
            Activations.ForwardRow(activation, row, bias, n);
        }
    }

    /// <summary>Loss and correct count of <paramref name="rows"/> outputs (z before, a after the activation), continuing <paramref name="running"/>.</summary>
    internal static BatchStats Score(NetworkSpec spec, float* z, float* a, ReadOnlySpan<int> labels, int rows, BatchStats running)
    {
        int n = spec.OutputSize;
        double loss = running.LossSum;
        int correct = running.Correct;
        for (int r = 0; r < rows; r++)
        {
            loss += Losses.SampleLoss(spec.Loss, z + r * n, a + r * n, labels[r], n);
            if (Losses.Predict(a + r * n, n) == labels[r]) correct++;
        }
        return new BatchStats(loss, correct, running.Count + rows);
    }

    /// <summary>The output layer's δ of rows [<paramref name="from"/>, <paramref name="to"/>) into <paramref name="d"/>, and their loss and correct count.</summary>
    internal static BatchStats OutputDelta(NetworkSpec spec, float* z, float* a, float* d, ReadOnlySpan<int> labels, int from, int to)
    {
        int n = spec.OutputSize;
        var output = spec.Layers[^1].Activation;
        double loss = 0;
        int correct = 0;
        for (int r = from; r < to; r++)
        {
            int label = labels[r];
            if (!Losses.IsValidLabel(label, n)) throw new UserErrorException($"label {label} does not fit the network's {n} output(s)");
            loss += Losses.SampleLossAndDelta(spec.Loss, output, z + r * n, a + r * n, label, d + r * n, n);
            if (Losses.Predict(a + r * n, n) == label) correct++;
        }
        return new BatchStats(loss, correct, to - from);
    }

    private void CheckShapes(ReadOnlySpan<float> parameters, ReadOnlySpan<float> input, int rows)
    {
        if (parameters.Length != _spec.ParameterCount) throw new ArgumentException($"{parameters.Length} parameters for a network of {_spec.ParameterCount}");
        if (rows < 0 || rows > MaxRows) throw new ArgumentOutOfRangeException(nameof(rows), $"{rows} rows; this workspace holds up to {MaxRows}");
        if (input.Length < rows * _spec.InputSize) throw new ArgumentException($"input holds {input.Length} values, {rows} rows need {rows * _spec.InputSize}");
    }

    private void ForwardCore(float* p, float* x, int rows, long weightsVersion)
    {
        var layers = _spec.Layers;
        bool transpose = weightsVersion < 0 || weightsVersion != _transposedVersion || (nint)p != _transposedFrom;
        _transposedVersion = weightsVersion;
        _transposedFrom = (nint)p;
        float* prev = x;
        fixed (float* wT = _weightsT)
        fixed (float* zOut = _outputZ)
            for (int l = 0; l < layers.Count; l++)
            {
                var layer = layers[l];
                int inN = layer.Inputs, outN = layer.Outputs;
                float* w = p + _spec.WeightOffset(l), b = p + _spec.BiasOffset(l), t = wT + _spec.WeightOffset(l);
                if (transpose)
                {
                    if (Team is { } band) band.Transpose(outN, inN, w, t);
                    else Gemm.Transpose(outN, inN, w, t);
                }
                fixed (float* a = _activations[l])
                {
                    // Z = A_prev · Wᵀ   [rows × out]
                    if (Team is { } team) team.MatMul(rows, outN, inN, prev, inN, 1, t, outN, a, outN, accumulate: false);
                    else Gemm.MatMul(rows, outN, inN, prev, inN, 1, t, outN, a, outN, accumulate: false);
                    BiasActivate(layer.Activation, a, b, rows, outN, l == layers.Count - 1 ? zOut : null);
                    prev = a;
                }
            }
    }

    // δ of the output layer into _deltaA, and the loss / accuracy of each shard summed in shard order.
    private BatchStats OutputDelta(ReadOnlySpan<int> labels, ReadOnlySpan<int> bounds)
    {
        var total = new BatchStats(0, 0, 0);
        fixed (float* a = _activations[^1])
        fixed (float* z = _outputZ)
        fixed (float* d = _deltaA)
            for (int s = 0; s + 1 < bounds.Length; s++)
                total += OutputDelta(_spec, z, a, d, labels, bounds[s], bounds[s + 1]);
        return total;
    }

    private void BackwardCore(float* p, float* x, int rows, ReadOnlySpan<int> bounds, float* g)
    {
        var layers = _spec.Layers;
        float[] delta = _deltaA, next = _deltaB;
        for (int l = layers.Count - 1; l >= 0; l--)
        {
            var layer = layers[l];
            int inN = layer.Inputs, outN = layer.Outputs;
            fixed (float* d = delta)
            fixed (float* dn = next)
            fixed (float* prevAct = l > 0 ? _activations[l - 1] : null)
            {
                float* prev = l > 0 ? prevAct : x;
                // dW = δᵀ · A_prev   [out × in], shard by shard
                if (Team is { } team) team.MatMulSegmented(outN, inN, bounds, d, 1, outN, prev, inN, g + _spec.WeightOffset(l), inN);
                else Gemm.MatMulSegmented(outN, inN, bounds, d, 1, outN, prev, inN, g + _spec.WeightOffset(l), inN);
                // db = Σ_rows δ   [out], shard by shard
                SegmentedColumnSums(d, outN, bounds, g + _spec.BiasOffset(l));
                if (l > 0)
                {
                    // dE/dA_prev = δ · W   [rows × in]; then δ_prev = dE/dA_prev ⊙ act'(A_prev)
                    if (Team is { } team2) team2.MatMul(rows, inN, outN, d, outN, 1, p + _spec.WeightOffset(l), inN, dn, inN, accumulate: false);
                    else Gemm.MatMul(rows, inN, outN, d, outN, 1, p + _spec.WeightOffset(l), inN, dn, inN, accumulate: false);
                    var act = layers[l - 1].Activation;
                    for (int r = 0; r < rows; r++)
                        Activations.BackwardRow(act, prev + (long)r * inN, dn + (long)r * inN, inN);
                }
            }
            (delta, next) = (next, delta);
        }
    }

    private void SegmentedColumnSums(float* d, int n, ReadOnlySpan<int> bounds, float* db)
    {
        bool first = true;
        fixed (float* acc = _columnSum)
            for (int s = 0; s + 1 < bounds.Length; s++)
            {
                if (bounds[s + 1] == bounds[s]) continue;
                new Span<float>(acc, n).Clear();
                for (int r = bounds[s]; r < bounds[s + 1]; r++) Elementwise.AddInto(acc, d + (long)r * n, n);
                if (first) new Span<float>(acc, n).CopyTo(new Span<float>(db, n));
                else Elementwise.AddInto(db, acc, n);
                first = false;
            }
        if (first) new Span<float>(db, n).Clear();
    }
}
