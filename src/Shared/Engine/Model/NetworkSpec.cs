namespace DistributedNN.Model;

/// <summary>
/// The architecture of a network and the layout of its parameters in one flat vector: layer by layer,
/// W (dense: row-major [out × in], PyTorch's nn.Linear.weight layout; convolution: [filters × channels × k × k],
/// nn.Conv2d's), then b. Gradients use the same layout, so whole-model operations are single passes over one block.
///
/// A plain stack is a list of dense layers, each reading the one before. A graph (a model spec) may also hold
/// convolution, pooling, flatten and dropout layers, and layers that read several earlier ones (add, concat):
/// layers come in an order where every layer reads only earlier ones, and the last layer is the output.
/// </summary>
public sealed class NetworkSpec
{
    private readonly int[] _offsets;

    public NetworkSpec(IReadOnlyList<LayerSpec> layers, LossKind loss, TensorShape? inputShape = null)
    {
        if (layers.Count == 0) throw new UserErrorException("a network needs at least one layer");
        IsPlainStack = layers.All(l => l.IsPlainDense);
        InputShape = inputShape ?? TensorShape.Flat(layers[0].Inputs);
        if (InputShape.Size != layers[0].Inputs)
            throw new UserErrorException($"the input shape {InputShape} holds {InputShape.Size} values but layer 1 takes {layers[0].Inputs}");
        if (IsPlainStack) CheckStack(layers);
        else CheckGraph(layers, InputShape);
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
            if (total > int.MaxValue / 2) break;
            _offsets[l] = (int)total;
            total += layers[l].ParameterCount;
        }
        if (total > int.MaxValue / 2) throw new UserErrorException($"the network has {total} parameters or more, more than this trainer supports");
        _offsets[^1] = (int)total;
    }

    private static void CheckStack(IReadOnlyList<LayerSpec> layers)
    {
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
    }

    /// <summary>Every layer's sources, sizes and shapes agree, and every layer but the last feeds a later one.</summary>
    private static void CheckGraph(IReadOnlyList<LayerSpec> layers, TensorShape input)
    {
        if (input.Channels < 1 || input.Height < 1 || input.Width < 1) throw new UserErrorException($"the input shape {input} is not positive");
        var used = new bool[layers.Count];
        for (int l = 0; l < layers.Count; l++)
        {
            var layer = layers[l];
            string name = $"layer {l + 1}{(layer.Name is { } n ? $" '{n}'" : "")} ({layer.KindName})";
            if (layer.Inputs <= 0 || layer.Outputs <= 0 || layer.InShape.Size != layer.Inputs || layer.OutShape.Size != layer.Outputs)
                throw new UserErrorException($"{name}: its sizes {layer.InShape}→{layer.OutShape} do not agree with {layer.Inputs}→{layer.Outputs}");
            var from = Sources(layer, l);
            bool many = layer.Kind is LayerKind.Add or LayerKind.Concat;
            if (many ? from.Length < 2 : from.Length != 1)
                throw new UserErrorException(many ? $"{name} needs at least two inputs" : $"{name} reads exactly one layer, not {from.Length}");
            var shapes = new TensorShape[from.Length];
            for (int i = 0; i < from.Length; i++)
            {
                int f = from[i];
                if (f < -1 || f >= l) throw new UserErrorException($"{name} reads layer {f + 1}, which does not come before it");
                if (f >= 0) used[f] = true;
                shapes[i] = f < 0 ? input : layers[f].OutShape;
            }
            if (layer.Activation == Activation.Softmax && l != layers.Count - 1)
                throw new UserErrorException($"softmax is an output activation; {name} is a hidden layer");
            var expected = Computed(layer, shapes, name);
            if (layer.OutShape != expected) throw new UserErrorException($"{name} gives {layer.OutShape} but computes {expected}");
            if (!layer.HasParameters && layer.Activation != Activation.Identity && layer.Kind is not (LayerKind.Add or LayerKind.Concat))
                throw new UserErrorException($"{name} has no activation of its own (put it on the layer before)");
        }
        for (int l = 0; l + 1 < layers.Count; l++)
            if (!used[l]) throw new UserErrorException($"layer {l + 1}{(layers[l].Name is { } n ? $" '{n}'" : "")} feeds no later layer; the last layer is the network's output");
    }

    /// <summary>The output shape <paramref name="layer"/> computes from its sources' <paramref name="shapes"/>, once they fit it.</summary>
    private static TensorShape Computed(LayerSpec layer, TensorShape[] shapes, string name)
    {
        var x = shapes[0];
        switch (layer.Kind)
        {
            case LayerKind.Dense:
                if (x.Size != layer.Inputs) throw new UserErrorException($"{name} takes {layer.Inputs} inputs but gets {x.Size}");
                return TensorShape.Flat(layer.Outputs);
            case LayerKind.Conv:
                if (x != layer.InShape) throw new UserErrorException($"{name} takes {layer.InShape} but gets {x}");
                var conv = layer.Conv;
                conv.Validate();
                return new TensorShape(conv.Filters, conv.OutHeight, conv.OutWidth);
            case LayerKind.MaxPool or LayerKind.AvgPool:
                if (x != layer.InShape) throw new UserErrorException($"{name} takes {layer.InShape} but gets {x}");
                var pool = layer.Pool;
                pool.Validate();
                return new TensorShape(pool.Channels, pool.OutHeight, pool.OutWidth);
            case LayerKind.Flatten:
                return TensorShape.Flat(x.Size);
            case LayerKind.LayerNorm or LayerKind.BatchNorm:
                return x;
            case LayerKind.GlobalAvgPool:
                return new TensorShape(x.Channels, 1, 1);
            case LayerKind.Dropout:
                if (!(layer.Rate >= 0 && layer.Rate < 1)) throw new UserErrorException($"{name}: the rate {layer.Rate} is not in [0, 1)");
                return x;
            case LayerKind.Add:
                if (shapes.Any(s => s != x)) throw new UserErrorException($"{name} adds tensors of different shapes: {string.Join(", ", shapes)}");
                return x;
            case LayerKind.Concat:
                if (shapes.Any(s => s.Height != x.Height || s.Width != x.Width))
                    throw new UserErrorException($"{name} joins tensors whose height × width differ: {string.Join(", ", shapes)}");
                return x with { Channels = shapes.Sum(s => s.Channels) };
            default:
                throw new UserErrorException($"{name}: unknown kind {layer.Kind}");
        }
    }

    /// <summary>The layers <paramref name="layer"/> (number <paramref name="index"/>) reads: −1 is the network's input.</summary>
    public static int[] Sources(LayerSpec layer, int index) => layer.From.Length > 0 ? layer.From : [index - 1];

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
    /// <summary>Every layer is dense and reads the layer before it (no model spec needed to describe it).</summary>
    public bool IsPlainStack { get; }
    /// <summary>How the network reads a sample's features: C × H × W (a plain stack: InputSize × 1 × 1).</summary>
    public TensorShape InputShape { get; }
    public int InputSize => InputShape.Size;
    public int OutputSize => Layers[^1].Outputs;
    public int ParameterCount => _offsets[^1];
    public int MaxWidth => Layers.Max(l => System.Math.Max(l.Inputs, l.Outputs));

    public int WeightOffset(int layer) => _offsets[layer];
    public int BiasOffset(int layer) => _offsets[layer] + Layers[layer].WeightCount;
    /// <summary>Where layer <paramref name="layer"/>'s statistics start (batch normalisation's running mean and variance).</summary>
    public int StatOffset(int layer) => BiasOffset(layer) + Layers[layer].BiasCount;
    /// <summary>The span of layer <paramref name="layer"/>'s parameters (W, b and statistics) in the flat vector.</summary>
    public (int Offset, int Length) LayerRange(int layer) => (_offsets[layer], Layers[layer].ParameterCount);
    /// <summary>The span of what gradients train in layer <paramref name="layer"/>: W then b, the statistics left out.</summary>
    public (int Offset, int Length) TrainedRange(int layer) => (_offsets[layer], Layers[layer].WeightCount + Layers[layer].BiasCount);

    public string Describe() => IsPlainStack
        ? string.Join("-", Layers.Select(l => l.Inputs).Append(OutputSize)) +
          $" ({string.Join(",", Layers.Select(l => l.Activation.Name()))}; {Loss.Name()}; {ParameterCount} parameters)"
        : $"{InputShape} → " + string.Join(" → ", Layers.Select(DescribeNode)) + $" ({Loss.Name()}; {ParameterCount} parameters)";

    private string DescribeNode(LayerSpec l, int index)
    {
        string from = l.From.Length > 0 ? "(" + string.Join("+", l.From.Select(f => f < 0 ? "input" : Layers[f].Name ?? $"#{f + 1}")) + ")" : "";
        string act = l.Activation == Activation.Identity ? "" : $" {l.Activation.Name()}";
        string what = l.Kind switch
        {
            LayerKind.Dense => $"dense {l.Outputs}",
            LayerKind.Conv => $"conv {l.Kernel}×{l.Kernel}×{l.OutShape.Channels}{(l.Stride != 1 ? $"/{l.Stride}" : "")}{(l.Padding != 0 ? $" pad {l.Padding}" : "")}",
            LayerKind.MaxPool or LayerKind.AvgPool => $"{l.KindName} {l.Kernel}{(l.Stride != l.Kernel ? $"/{l.Stride}" : "")}",
            LayerKind.Dropout => $"dropout {l.Rate:0.###}",
            _ => l.KindName,
        };
        return $"{what}{from}{act}";
    }

    public override string ToString() => Describe();
}
