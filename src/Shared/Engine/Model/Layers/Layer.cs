using DistributedNN.Numerics;

namespace DistributedNN.Model.Layers;

/// <summary>
/// One layer of a <see cref="Network"/>, its forward and backward pass side by side. A layer owns its output A
/// [rows × Outputs] and its δ [rows × Outputs]: first dE/dA, the sum of the parts every later layer reading it delivers
/// (the chain rule's sum over every path to the loss), then δ = dE/dA ⊙ act'. Forward reads the sources' outputs;
/// backward adds the layer's parameter gradient — each shard's part from zero, the parts added in shard order — and
/// delivers to each source its part of dE/d(source). Both run over all of the call's rows at once: every row's result
/// depends on that row alone.
/// </summary>
internal abstract unsafe class Layer
{
    private readonly Layer?[] _sources;
    private readonly float[] _output, _delta, _z; // held: the pointers below point into them
    private bool _reached; // some later layer has delivered its part of dE/dA (the output layer: the loss has)

    protected Layer(NetworkSpec network, int index, Layer?[] sources, int maxRows)
    {
        Spec = network.Layers[index];
        _sources = sources;
        WeightOffset = network.WeightOffset(index);
        BiasOffset = network.BiasOffset(index);
        _output = Pinned.Floats((long)maxRows * Outputs, out var output);
        _delta = Pinned.Floats((long)maxRows * Outputs, out var delta);
        Output = output;
        Delta = delta;
        _z = [];
        if (index == network.Layers.Count - 1 || Spec.Activation.NeedsZ())
        {
            _z = Pinned.Floats((long)maxRows * Outputs, out var z);
            Z = z;
        }
    }

    /// <summary>The layer <paramref name="index"/> of <paramref name="network"/>, reading <paramref name="built"/> (the layers before it).</summary>
    public static Layer Create(NetworkSpec network, int index, IReadOnlyList<Layer> built, int maxRows)
    {
        var spec = network.Layers[index];
        var sources = NetworkSpec.Sources(spec, index).Select(f => f < 0 ? null : built[f]).ToArray();
        return spec.Kind switch
        {
            LayerKind.Dense => new DenseLayer(network, index, sources, maxRows),
            LayerKind.Conv => new ConvLayer(network, index, sources, maxRows),
            LayerKind.MaxPool or LayerKind.AvgPool => new PoolLayer(network, index, sources, maxRows),
            LayerKind.Flatten => new FlattenLayer(network, index, sources, maxRows),
            LayerKind.Dropout => new DropoutLayer(network, index, sources, maxRows),
            LayerKind.Add => new AddLayer(network, index, sources, maxRows),
            LayerKind.Concat => new ConcatLayer(network, index, sources, maxRows),
            LayerKind.LayerNorm => new LayerNormLayer(network, index, sources, maxRows),
            LayerKind.BatchNorm => new BatchNormLayer(network, index, sources, maxRows),
            LayerKind.GlobalAvgPool => new GlobalAvgPoolLayer(network, index, sources, maxRows),
            _ => throw new ArgumentOutOfRangeException(nameof(index), $"layer {index + 1}: unknown kind {spec.Kind}"),
        };
    }

    public LayerSpec Spec { get; }
    public int Inputs => Spec.Inputs;
    public int Outputs => Spec.Outputs;
    /// <summary>A [MaxRows × Outputs], after the activation.</summary>
    public float* Output { get; }
    /// <summary>dE/dA, then δ, [MaxRows × Outputs].</summary>
    public float* Delta { get; }
    /// <summary>z + b [MaxRows × Outputs], kept for the loss (the output layer) or for a' (GELU, SiLU); null for the others.</summary>
    public float* Z { get; }
    protected int WeightOffset { get; }
    protected int BiasOffset { get; }
    protected int SourceCount => _sources.Length;

    /// <summary>Once per weight version, before the calls with those weights (dense layers transpose W).</summary>
    public virtual void Prepare(in Pass pass) { }

    /// <summary>A [rows × Outputs] from the sources' outputs, the activation applied.</summary>
    public abstract void Forward(in Pass pass);

    /// <summary>From δ [rows × Outputs]: the parameter gradient, shard by shard in order, and each source's part of its dE/dA.</summary>
    public abstract void Backward(in Pass pass);

    /// <summary>Before a backward pass: no part of dE/dA delivered yet, unless it comes from the loss (the output layer).</summary>
    public void BeginBackward(bool fromLoss) => _reached = fromLoss;

    /// <summary>δ = dE/dA ⊙ act'(A) [rows × Outputs], act' written through A.</summary>
    public void ApplyActivationDerivative(in Pass pass)
    {
        if (!_reached) throw new InvalidOperationException($"{Spec.Describe()}: no gradient reached it"); // the spec's checks rule this out
        if (Spec.Activation == Activation.Identity) return;
        for (int r = 0; r < pass.Rows; r++)
            Activations.BackwardRow(Spec.Activation, Output + (long)r * Outputs, Delta + (long)r * Outputs, Outputs, Z is null ? null : Z + (long)r * Outputs);
    }

    /// <summary>Source <paramref name="k"/>'s output [rows × its size]: a layer's A, or the network's input.</summary>
    protected float* Source(in Pass pass, int k = 0) => _sources[k] is { } source ? source.Output : pass.Input;

    /// <summary>Whether source <paramref name="k"/> is a layer (the input needs no gradient).</summary>
    protected bool SourceIsLayer(int k = 0) => _sources[k] is not null;

    /// <summary>Where source <paramref name="k"/>'s part of dE/dA goes: straight into its δ when it is the first part, else into scratch.</summary>
    protected float* SourceGradient(in Pass pass, int k = 0) => _sources[k]!._reached ? pass.Scratch : _sources[k]!.Delta;

    /// <summary>The part of dE/dA written at <paramref name="part"/> (n values) is added to source <paramref name="k"/>'s δ, unless it went straight in.</summary>
    protected void Deliver(int k, float* part, long n)
    {
        var source = _sources[k]!;
        if (source._reached) Elementwise.AddInto(source.Delta, part, n);
        source._reached = true;
    }

    /// <summary>
    /// A = act(A + b) row by row, in place; the output layer keeps A + b in <see cref="Z"/> too, for a stable
    /// cross-entropy. A layer without a bias passes none (null): it adds zeros, and a hidden identity layer skips the pass.
    /// </summary>
    protected void Activate(in Pass pass, float* bias)
    {
        if (bias is null)
        {
            if (Z is null && Spec.Activation == Activation.Identity) return;
            bias = pass.Zeros;
        }
        int n = Outputs;
        for (int r = 0; r < pass.Rows; r++)
        {
            float* row = Output + (long)r * n;
            if (Z is not null)
            {
                float* z = Z + (long)r * n;
                for (int j = 0; j < n; j++) z[j] = row[j] + bias[j];
            }
            Activations.ForwardRow(Spec.Activation, row, bias, n);
        }
    }
}
