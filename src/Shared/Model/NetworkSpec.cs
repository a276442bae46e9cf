namespace DistributedNN.Model;

/// <summary>One fully-connected layer: z = W·a_prev + b with W [Outputs × Inputs], then a = act(z).</summary>
public sealed record LayerSpec(int Inputs, int Outputs, Activation Activation)
{
    public int WeightCount => Inputs * Outputs;
    public int ParameterCount => Inputs * Outputs + Outputs;
}

/// <summary>
/// The architecture of a feedforward network and the layout of its parameters in one flat
/// vector: layer by layer, W row-major [out × in] (PyTorch's nn.Linear.weight layout), then b.
/// Gradients use the same layout, so whole-model operations are single passes over one block.
/// </summary>
public sealed class NetworkSpec
{
    private readonly int[] _offsets;

    public NetworkSpec(IReadOnlyList<LayerSpec> layers, LossKind loss)
    {
        if (layers.Count == 0) throw new UserErrorException("a network needs at least one layer");
        for (int l = 0; l < layers.Count; l++)
        {
            var layer = layers[l];
            if (layer.Inputs <= 0 || layer.Outputs <= 0)
                throw new UserErrorException($"layer {l + 1} has size {layer.Inputs}→{layer.Outputs}; every layer needs at least one input and one output");
            if (l > 0 && layers[l - 1].Outputs != layer.Inputs)
                throw new UserErrorException($"layer {l + 1} takes {layer.Inputs} inputs but layer {l} gives {layers[l - 1].Outputs}");
            if (layer.Activation == Activation.Softmax && l != layers.Count - 1)
                throw new UserErrorException($"softmax is an output activation; layer {l + 1} is a hidden layer");
        }
        var last = layers[^1];
        if (loss == LossKind.CrossEntropy && last.Activation != Activation.Softmax)
            throw new UserErrorException($"cross-entropy loss needs a softmax output layer, not {last.Activation.Name()}");
        if (loss == LossKind.CrossEntropy && last.Outputs < 2)
            throw new UserErrorException("cross-entropy loss needs at least two output classes");

        Layers = layers.ToArray();
        Loss = loss;
        _offsets = new int[layers.Count + 1];
        long total = 0;
        for (int l = 0; l < layers.Count; l++)
        {
            _offsets[l] = checked((int)total);
            total += layers[l].ParameterCount;
        }
        if (total > int.MaxValue / 2) throw new UserErrorException($"the network has {total} parameters, more than this trainer supports");
        _offsets[^1] = (int)total;
    }

    /// <summary>A stack from sizes: <c>784,256,128,10</c> with one hidden activation and an output activation.</summary>
    public static NetworkSpec FromSizes(IReadOnlyList<int> sizes, Activation hidden, Activation output, LossKind loss)
    {
        if (sizes.Count < 2) throw new UserErrorException("--layers needs at least an input and an output size, e.g. 784,256,10");
        var layers = new LayerSpec[sizes.Count - 1];
        for (int l = 0; l < layers.Length; l++)
            layers[l] = new LayerSpec(sizes[l], sizes[l + 1], l == layers.Length - 1 ? output : hidden);
        return new NetworkSpec(layers, loss);
    }

    public IReadOnlyList<LayerSpec> Layers { get; }
    public LossKind Loss { get; }
    public int InputSize => Layers[0].Inputs;
    public int OutputSize => Layers[^1].Outputs;
    public int ParameterCount => _offsets[^1];
    public int MaxWidth => Layers.Max(l => System.Math.Max(l.Inputs, l.Outputs));

    public int WeightOffset(int layer) => _offsets[layer];
    public int BiasOffset(int layer) => _offsets[layer] + Layers[layer].WeightCount;
    /// <summary>The span of layer <paramref name="layer"/>'s parameters (W then b) in the flat vector.</summary>
    public (int Offset, int Length) LayerRange(int layer) => (_offsets[layer], Layers[layer].ParameterCount);

    public string Describe() =>
        string.Join("-", Layers.Select(l => l.Inputs).Append(OutputSize)) +
        $" ({string.Join(",", Layers.Select(l => l.Activation.Name()))}; {Loss.Name()}; {ParameterCount} parameters)";

    public override string ToString() => Describe();
}
