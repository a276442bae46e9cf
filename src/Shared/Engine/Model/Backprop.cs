using DistributedNN.Numerics;

namespace DistributedNN.Model;

/// <summary>
/// Forward pass and backpropagation for a <see cref="NetworkSpec"/> over mini-batches of up to <see cref="MaxRows"/>
/// samples, with every buffer allocated once (no allocation per step). The engine is one <see cref="Network"/>; this
/// class checks a call's arguments and picks how several threads share it.
///
/// Per dense layer, batch-major (A is [rows × in], W is [out × in]):
///   forward   Z = A_prev·Wᵀ,  A = act(Z + b)
///   backward  δ = dE/dA ⊙ act'(Z)      (for the output layer: from the loss)
///             dW = δᵀ·A_prev,  db = Σ_rows δ,  dE/dA_prev = δ·W
/// The chain rule summed over every path through the network is exactly the product δ·W: each
/// input of a layer feeds every output, and dE/da_i = Σ_j δ_j·w_ji adds up those paths.
///
/// The gradient is the SUM over samples (not the mean) of each shard, and shards are added in
/// index order: see <see cref="Gradient(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{int}, int, ReadOnlySpan{int}, Span{float}, long, DropoutKey)"/>.
/// A user divides by the batch size (the optimizers do). Not thread-safe: one instance per thread.
/// </summary>
public sealed unsafe class Backprop
{
    private readonly NetworkSpec _spec;
    private readonly Network _network;
    private readonly ShardLanes? _lanes; // a graph's shards side by side when the team has several threads
    private bool _lastOnLanes;

    /// <param name="labelSmoothing">ε of cross-entropy's smoothed targets in training, (1 − ε)·one-hot + ε/K (torch's
    /// label_smoothing); evaluation's loss is the plain one</param>
    public Backprop(NetworkSpec spec, int maxRows, float labelSmoothing = 0f)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxRows);
        if (!(labelSmoothing >= 0 && labelSmoothing < 1)) throw new ArgumentOutOfRangeException(nameof(labelSmoothing));
        _spec = spec;
        MaxRows = maxRows;
        _network = new Network(spec, maxRows) { LabelSmoothing = labelSmoothing };
        // with several threads a dense stack splits each product over them; a graph (convolutions, pooling: sample by
        // sample) runs its shards side by side instead — the two ways tuned before the engines became one
        _lanes = spec.IsPlainStack ? null : new ShardLanes(_network);
    }

    public NetworkSpec Spec => _spec;
    public int MaxRows { get; }

    /// <summary>
    /// Threads for the matrix products (null: the calling thread only). The results have the same bits with or
    /// without a team, with any number of threads.
    /// </summary>
    public GemmTeam? Team { get; set; }

    private GemmTeam Gemm => Team ?? GemmTeam.CallingThread;

    /// <summary>The output layer's activations of the last forward pass, [rows × OutputSize].</summary>
    public ReadOnlySpan<float> Output(int rows) => _network.Output(rows);

    /// <summary>
    /// Per layer, the last <see cref="Gradient(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{int}, int, ReadOnlySpan{int}, Span{float}, long, DropoutKey)"/>
    /// call's dead ReLU (shard, unit) pairs or saturated sigmoid/tanh outputs (<see cref="ActivationHealth.Count"/>), summed over its shards.
    /// </summary>
    public ReadOnlySpan<int> Activity => _lastOnLanes ? _lanes!.Activity : _network.Activity;

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
            _network.Forward(p, x, rows, weightsVersion, Gemm);
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
        fixed (int* y = labels)
        {
            _lastOnLanes = _lanes is not null && Team is { Threads: > 1 } && shardBounds.Length > 2;
            return _lastOnLanes
                ? _lanes!.Gradient(Team!, p, x, y, shardBounds, g, weightsVersion, dropout)
                : _network.Gradient(p, x, labels, rows, shardBounds, g, weightsVersion, dropout, Gemm);
        }
    }

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
    public BatchStats Evaluate(ReadOnlySpan<int> labels, int rows, BatchStats running = default) => _network.Evaluate(labels, rows, running);

    private void CheckShapes(ReadOnlySpan<float> parameters, ReadOnlySpan<float> input, int rows)
    {
        if (parameters.Length != _spec.ParameterCount) throw new ArgumentException($"{parameters.Length} parameters for a network of {_spec.ParameterCount}");
        if (rows < 0 || rows > MaxRows) throw new ArgumentOutOfRangeException(nameof(rows), $"{rows} rows; this workspace holds up to {MaxRows}");
        if (input.Length < rows * _spec.InputSize) throw new ArgumentException($"input holds {input.Length} values, {rows} rows need {rows * _spec.InputSize}");
    }
}
