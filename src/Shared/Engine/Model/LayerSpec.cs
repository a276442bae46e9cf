namespace DistributedNN.Model;

/// <summary>What a layer computes. Dense and convolution layers have parameters; the others do not.</summary>
public enum LayerKind : byte { Dense, Conv, MaxPool, AvgPool, Flatten, Dropout, Add, Concat, LayerNorm, GlobalAvgPool, BatchNorm }

/// <summary>
/// One layer (a node of the network's graph). Dense: z = W·a_prev + b with W [Outputs × Inputs], then a = act(z).
/// The other kinds (see <see cref="LayerKind"/>) set <see cref="Kind"/>, their shapes and their sources in <see cref="From"/>;
/// a plain <c>new LayerSpec(in, out, act)</c> is a dense layer reading the layer before it.
/// </summary>
public sealed record LayerSpec(int Inputs, int Outputs, Activation Activation)
{
    public LayerKind Kind { get; init; } = LayerKind.Dense;
    /// <summary>The layers this one reads, by index (−1: the network's input); empty: the layer before it.</summary>
    public int[] From { get; init; } = [];
    /// <summary>The name a model spec gives the layer (for messages and for <c>from</c> references).</summary>
    public string? Name { get; init; }
    public TensorShape? InShapeOrNull { get; init; }
    public TensorShape? OutShapeOrNull { get; init; }
    /// <summary>Convolution: kernel size (square); pooling: window size.</summary>
    public int Kernel { get; init; }
    public int Stride { get; init; } = 1;
    public int Padding { get; init; }
    /// <summary>Dropout: the probability of zeroing a unit during training.</summary>
    public float Rate { get; init; }

    public TensorShape InShape => InShapeOrNull ?? TensorShape.Flat(Inputs);
    public TensorShape OutShape => OutShapeOrNull ?? TensorShape.Flat(Outputs);

    public ConvShape Conv => new(InShape.Channels, InShape.Height, InShape.Width, OutShape.Channels, Kernel, Kernel, Stride, Padding);
    public PoolShape Pool => new(Kind == LayerKind.MaxPool ? PoolKind.Max : PoolKind.Average, InShape.Channels, InShape.Height, InShape.Width, Kernel, Stride);

    public int WeightCount => Kind switch
    {
        LayerKind.Dense => Inputs * Outputs,
        LayerKind.Conv => OutShape.Channels * InShape.Channels * Kernel * Kernel,
        LayerKind.LayerNorm => Inputs, // γ
        LayerKind.BatchNorm => InShape.Channels, // γ, one per channel (a flat input: per feature)
        _ => 0,
    };
    /// <summary>Weights, then one bias per output unit (dense) or per filter (convolution).</summary>
    public int BiasCount => Kind switch
    {
        LayerKind.Dense => Outputs, LayerKind.Conv => OutShape.Channels, LayerKind.LayerNorm => Inputs, LayerKind.BatchNorm => InShape.Channels, _ => 0,
    };
    /// <summary>Statistics kept beside the parameters but not trained by gradients: batch normalisation's running mean,
    /// then running variance, one per channel (see <see cref="Layers.BatchNormLayer"/>).</summary>
    public int StatCount => Kind == LayerKind.BatchNorm ? 2 * InShape.Channels : 0;
    /// <summary>Everything the layer keeps in the flat vector: weights, biases, statistics.</summary>
    public int ParameterCount => WeightCount + BiasCount + StatCount;
    public bool HasParameters => ParameterCount > 0;
    /// <summary>Inputs and outputs each weight connects (convolution: per kernel position), for the initialisers.</summary>
    public int FanIn => Kind == LayerKind.Conv ? InShape.Channels * Kernel * Kernel : Inputs;
    public int FanOut => Kind == LayerKind.Conv ? OutShape.Channels * Kernel * Kernel : Outputs;
    /// <summary>A dense layer reading the layer before it (a plain stack is made of these).</summary>
    public bool IsPlainDense => Kind == LayerKind.Dense && From.Length == 0;

    public string KindName => Kind switch
    {
        LayerKind.Dense => "dense",
        LayerKind.Conv => "conv",
        LayerKind.MaxPool => "maxpool",
        LayerKind.AvgPool => "avgpool",
        LayerKind.Flatten => "flatten",
        LayerKind.Dropout => "dropout",
        LayerKind.Add => "add",
        LayerKind.Concat => "concat",
        LayerKind.LayerNorm => "layernorm",
        LayerKind.GlobalAvgPool => "globalavgpool",
        LayerKind.BatchNorm => "batchnorm",
        _ => throw new ArgumentOutOfRangeException(nameof(Kind)),
    };

    /// <summary>e.g. <c>conv 1×28×28→32×24×24, relu</c>.</summary>
    public string Describe() => $"{KindName} {InShape}→{OutShape}, {Activation.Name()}";
}
