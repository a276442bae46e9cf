using System.Buffers.Binary;
using System.Text;
using DistributedNN.Model;

namespace DistributedNN.Serialization;

/// <summary>
/// A trained network as an ONNX model (opset 13), for ONNX Runtime and every tool that reads ONNX:
/// input <c>input</c> float[N × inputs], one <c>Gemm</c> (A·Wᵀ + b, <c>transB = 1</c>, W stored as
/// [outputs × inputs] like the model file) and one activation node per layer (Relu, Sigmoid, Tanh,
/// Softmax over axis 1; none for identity), output <c>output</c> float[N × outputs] — the network's
/// output activations, as <c>evaluate</c> computes them. The batch dimension is symbolic (<c>N</c>).
/// A graph network (a model spec) keeps the same input and output: a Reshape to N×C×H×W where a convolution or
/// pooling reads, <c>Conv</c> (weights [filters × channels × k × k], pads and strides), <c>MaxPool</c> /
/// <c>AveragePool</c>, <c>Flatten</c> before a dense layer, <c>Sum</c> (add), <c>Concat</c> (axis 1), dropout left
/// out (inference). A model that knows its input transform (<see cref="TrainedModel.Input"/>) takes raw values: the
/// transform comes first as nodes (<c>Div</c> by the pixel scale; <c>Sub</c> and <c>Mul</c> of standardised features,
/// in double between two <c>Cast</c>s, as the engine computes them).
/// <para>
/// Written with a small protobuf encoder of the few ONNX messages needed (ModelProto, GraphProto,
/// NodeProto, AttributeProto, TensorProto with raw little-endian data, ValueInfoProto), field
/// numbers as in onnx.proto.
/// </para>
/// </summary>
public static partial class OnnxExport
{
    public const int Opset = 13;
    private const long IrVersion = 8;
    private const int FloatType = 1;       // TensorProto.DataType.FLOAT
    private const int FloatAttribute = 1;  // AttributeProto.AttributeType.FLOAT
    private const int IntAttribute = 2;    // AttributeProto.AttributeType.INT
    private const int IntsAttribute = 7;   // AttributeProto.AttributeType.INTS
    private const int Int64Type = 7;       // TensorProto.DataType.INT64
    private const int DoubleType = 11;     // TensorProto.DataType.DOUBLE

    public static void Save(string path, TrainedModel model) => AtomicFile.Write(path, ToBytes(model));

    public static byte[] ToBytes(TrainedModel model)
    {
        model.Validate();
        var spec = model.Spec;
        var graph = new Proto();
        if (!spec.IsPlainStack)
        {
            WriteGraph(graph, model);
            return Finish(graph, model);
        }
        string current = Preprocess(graph, model);
        for (int l = 0; l < spec.Layers.Count; l++)
        {
            var layer = spec.Layers[l];
            string w = $"layer{l + 1}.weight", b = $"layer{l + 1}.bias", z = $"layer{l + 1}.z";
            bool last = l == spec.Layers.Count - 1;
            bool identity = layer.Activation == Activation.Identity;
            string gemmOut = identity && last ? "output" : z;
            graph.Message(1, Node("Gemm", $"layer{l + 1}.gemm", [current, w, b], gemmOut, new Proto().String(1, "transB").Int(3, 1).Int(20, IntAttribute)));
            current = identity ? gemmOut : ActivationNodes(layer.Activation, gemmOut, last ? "output" : $"layer{l + 1}.a", $"layer{l + 1}",
                node => graph.Message(1, node), tensor => graph.Message(5, tensor));
        }
        graph.String(2, "distributednn");
        for (int l = 0; l < spec.Layers.Count; l++)
        {
            var layer = spec.Layers[l];
            graph.Message(5, Tensor($"layer{l + 1}.weight", [layer.Outputs, layer.Inputs], model.Parameters.AsSpan(spec.WeightOffset(l), layer.WeightCount)));
            graph.Message(5, Tensor($"layer{l + 1}.bias", [layer.Outputs], model.Parameters.AsSpan(spec.BiasOffset(l), layer.Outputs)));
        }
        return Finish(graph, model);
    }

    private static byte[] Finish(Proto graph, TrainedModel model)
    {
        var spec = model.Spec;
        graph.Message(11, ValueInfo("input", spec.InputSize));
        graph.Message(12, ValueInfo("output", spec.OutputSize));

        var modelProto = new Proto()
            .Int(1, IrVersion)
            .String(2, "DistributedNN")
            .String(3, typeof(OnnxExport).Assembly.GetName().Version?.ToString() ?? "1")
            .String(6, model.Notes)
            .Message(7, graph)
            .Message(8, new Proto().String(1, "").Int(2, Opset));
        return modelProto.ToArray();
    }

    private static void WriteGraph(Proto graph, TrainedModel model)
    {
        var writer = new GraphWriter(model, Preprocess(graph, model));
        for (int l = 0; l < model.Spec.Layers.Count; l++) writer.Layer(l);
        writer.WriteTo(graph);
    }

    /// <summary>The nodes and initializers of a graph network, layer by layer; every value is N×size (2-D) or N×C×H×W (4-D).</summary>
    private sealed class GraphWriter(TrainedModel model, string input)
    {
        private readonly NetworkSpec _spec = model.Spec;
        private readonly List<Proto> _nodes = [], _initializers = [];
        private readonly string[] _names = new string[model.Spec.Layers.Count]; // each layer's output value
        private readonly bool[] _fourD = new bool[model.Spec.Layers.Count];
        private int _reshapes;

        public void Layer(int l)
        {
            var layer = _spec.Layers[l];
            var from = NetworkSpec.Sources(layer, l);
            string id = $"layer{l + 1}";
            var (z, out4D) = layer.Kind switch
            {
                LayerKind.Dense => Dense(l, id, from[0]),
                LayerKind.Conv => Conv(l, id, from[0]),
                LayerKind.MaxPool or LayerKind.AvgPool => Pool(layer, id, from[0]),
                LayerKind.Flatten => (As(from[0], false), false), // only the rank changes
                LayerKind.Dropout => (As(from[0], Is4D(from[0])), Is4D(from[0])), // nothing at inference
                LayerKind.Add or LayerKind.Concat => Join(layer, id, from),
                LayerKind.LayerNorm => LayerNorm(l, id, from[0]),
                LayerKind.BatchNorm => BatchNorm(l, id, from[0]),
                LayerKind.GlobalAvgPool => (Node4D("GlobalAveragePool", $"{id}.pool", As(from[0], true), $"{id}.z"), true),
                _ => throw new ArgumentOutOfRangeException(nameof(l), $"layer kind {layer.Kind} has no ONNX operator here"),
            };
            _names[l] = z;
            _fourD[l] = out4D;
            if (layer.Activation == Activation.Softmax && _fourD[l])
            {
                _names[l] = As(l, false); // softmax runs over the whole row, as the engine's
                _fourD[l] = false;
            }
            if (layer.Activation != Activation.Identity)
                _names[l] = ActivationNodes(layer.Activation, _names[l], $"{id}.a", id, _nodes.Add, _initializers.Add);
        }

        public void WriteTo(Proto graph)
        {
            _nodes.Add(Node("Identity", "output", [As(_spec.Layers.Count - 1, false)], "output"));
            foreach (var node in _nodes) graph.Message(1, node);
            graph.String(2, "distributednn");
            foreach (var tensor in _initializers) graph.Message(5, tensor);
        }

        private bool Is4D(int from) => from >= 0 && _fourD[from];

        // a value in the rank a reader needs: Reshape to N×C×H×W, or Flatten to N×size
        private string As(int from, bool want4D)
        {
            string name = from < 0 ? input : _names[from];
            var shape = from < 0 ? _spec.InputShape : _spec.Layers[from].OutShape;
            if (Is4D(from) == want4D) return name;
            string to = $"{name}.{(want4D ? "nchw" : "flat")}{++_reshapes}";
            if (want4D)
            {
                string shapeName = $"shape{_reshapes}";
                _initializers.Add(LongTensor(shapeName, [-1, shape.Channels, shape.Height, shape.Width]));
                _nodes.Add(Node("Reshape", to, [name, shapeName], to));
            }
            else _nodes.Add(Node("Flatten", to, [name], to, IntAttr("axis", 1)));
            return to;
        }

        private void Parameters(int l, string id, long[] weightDims)
        {
            var layer = _spec.Layers[l];
            _initializers.Add(Tensor($"{id}.weight", weightDims, model.Parameters.AsSpan(_spec.WeightOffset(l), layer.WeightCount)));
            _initializers.Add(Tensor($"{id}.bias", [weightDims[0]], model.Parameters.AsSpan(_spec.BiasOffset(l), layer.BiasCount)));
        }

        private (string, bool) Dense(int l, string id, int from)
        {
            var layer = _spec.Layers[l];
            Parameters(l, id, [layer.Outputs, layer.Inputs]);
            _nodes.Add(Node("Gemm", $"{id}.gemm", [As(from, false), $"{id}.weight", $"{id}.bias"], $"{id}.z", IntAttr("transB", 1)));
            return ($"{id}.z", false);
        }

        private (string, bool) Conv(int l, string id, int from)
        {
            var layer = _spec.Layers[l];
            int k = layer.Kernel, pad = layer.Padding;
            Parameters(l, id, [layer.OutShape.Channels, layer.InShape.Channels, k, k]);
            _nodes.Add(Node("Conv", $"{id}.conv", [As(from, true), $"{id}.weight", $"{id}.bias"], $"{id}.z",
                IntsAttr("kernel_shape", k, k), IntsAttr("strides", layer.Stride, layer.Stride), IntsAttr("pads", pad, pad, pad, pad)));
            return ($"{id}.z", true);
        }

        private (string, bool) Pool(LayerSpec layer, string id, int from)
        {
            _nodes.Add(Node(layer.Kind == LayerKind.MaxPool ? "MaxPool" : "AveragePool", $"{id}.pool", [As(from, true)], $"{id}.z",
                IntsAttr("kernel_shape", layer.Kernel, layer.Kernel), IntsAttr("strides", layer.Stride, layer.Stride)));
            return ($"{id}.z", true);
        }

        private string Node4D(string op, string name, string input, string output)
        {
            _nodes.Add(Node(op, name, [input], output));
            return output;
        }

        // y = γ ⊙ (x − μ)/√(σ² + ε) + β over each sample's every value: ReduceMean, Sub, Mul, ReduceMean, Add, Sqrt, Div, Mul, Add
        private (string, bool) LayerNorm(int l, string id, int from)
        {
            var layer = _spec.Layers[l];
            bool fourD = Is4D(from);
            string x = As(from, fourD);
            var s = layer.InShape;
            long[] shape = fourD ? [s.Channels, s.Height, s.Width] : [layer.Inputs];
            _initializers.Add(Tensor($"{id}.weight", shape, model.Parameters.AsSpan(_spec.WeightOffset(l), layer.WeightCount)));
            _initializers.Add(Tensor($"{id}.bias", shape, model.Parameters.AsSpan(_spec.BiasOffset(l), layer.BiasCount)));
            _initializers.Add(Tensor($"{id}.epsilon", [1], [(float)Model.Layers.LayerNormLayer.Epsilon]));
            var axes = fourD ? IntsAttr("axes", 1, 2, 3) : IntsAttr("axes", 1);
            _nodes.Add(Node("ReduceMean", $"{id}.mean", [x], $"{id}.mean", axes, IntAttr("keepdims", 1)));
            _nodes.Add(Node("Sub", $"{id}.centre", [x, $"{id}.mean"], $"{id}.centred"));
            _nodes.Add(Node("Mul", $"{id}.square", [$"{id}.centred", $"{id}.centred"], $"{id}.squares"));
            _nodes.Add(Node("ReduceMean", $"{id}.variance", [$"{id}.squares"], $"{id}.variance", axes, IntAttr("keepdims", 1)));
            _nodes.Add(Node("Add", $"{id}.add_epsilon", [$"{id}.variance", $"{id}.epsilon"], $"{id}.variance_eps"));
            _nodes.Add(Node("Sqrt", $"{id}.sqrt", [$"{id}.variance_eps"], $"{id}.deviation"));
            _nodes.Add(Node("Div", $"{id}.normalise", [$"{id}.centred", $"{id}.deviation"], $"{id}.normalised"));
            _nodes.Add(Node("Mul", $"{id}.scale", [$"{id}.normalised", $"{id}.weight"], $"{id}.scaled"));
            _nodes.Add(Node("Add", $"{id}.shift", [$"{id}.scaled", $"{id}.bias"], $"{id}.z"));
            return ($"{id}.z", fourD);
        }

        // inference: BatchNormalization with the running statistics (N × C × H × W, or N × C for a flat input)
        private (string, bool) BatchNorm(int l, string id, int from)
        {
            var layer = _spec.Layers[l];
            bool fourD = !layer.InShape.IsFlat;
            int c = layer.InShape.Channels;
            var p = model.Parameters.AsSpan();
            _initializers.Add(Tensor($"{id}.weight", [c], p.Slice(_spec.WeightOffset(l), c)));
            _initializers.Add(Tensor($"{id}.bias", [c], p.Slice(_spec.BiasOffset(l), c)));
            _initializers.Add(Tensor($"{id}.running_mean", [c], p.Slice(_spec.StatOffset(l), c)));
            _initializers.Add(Tensor($"{id}.running_var", [c], p.Slice(_spec.StatOffset(l) + c, c)));
            _nodes.Add(Node("BatchNormalization", $"{id}.batchnorm", [As(from, fourD), $"{id}.weight", $"{id}.bias", $"{id}.running_mean", $"{id}.running_var"],
                $"{id}.z", FloatAttr("epsilon", (float)Model.Layers.BatchNormLayer.Epsilon)));
            return ($"{id}.z", fourD);
        }

        private (string, bool) Join(LayerSpec layer, string id, int[] from)
        {
            bool out4D = from.Any(Is4D);
            var inputs = from.Select(f => As(f, out4D)).ToArray();
            _nodes.Add(layer.Kind == LayerKind.Add ? Node("Sum", $"{id}.add", inputs, $"{id}.z") : Node("Concat", $"{id}.concat", inputs, $"{id}.z", IntAttr("axis", 1)));
            return ($"{id}.z", out4D);
        }
    }

    /// <summary>
    /// The model's input transform as the graph's first nodes, the engine's arithmetic step for step: <c>Div</c> by the
    /// scale in float, then (standardised features) <c>Cast</c> to double, <c>Sub</c> the means, <c>Mul</c> by 1/std (1
    /// for a constant feature), <c>Cast</c> back to float. Returns the value the network reads.
    /// </summary>
    private static string Preprocess(Proto graph, TrainedModel model)
    {
        string current = "input";
        if (model.Input is not { } input) return current;
        if (input.Scale != 1f)
        {
            graph.Message(5, Tensor("input.scale", [1], [input.Scale]));
            graph.Message(1, Node("Div", "input.div", [current, "input.scale"], "input.scaled"));
            current = "input.scaled";
        }
        if (input.Mean is { } mean)
        {
            var std = input.StandardDeviation!;
            graph.Message(5, DoubleTensor("input.mean", [.. mean]));
            graph.Message(5, DoubleTensor("input.inverse_std", [.. std.Select(s => s > 0 ? 1.0 / s : 1.0)]));
            graph.Message(1, Node("Cast", "input.to_double", [current], "input.double", IntAttr("to", DoubleType)));
            graph.Message(1, Node("Sub", "input.sub", ["input.double", "input.mean"], "input.centred"));
            graph.Message(1, Node("Mul", "input.mul", ["input.centred", "input.inverse_std"], "input.standardised"));
            graph.Message(1, Node("Cast", "input.to_float", ["input.standardised"], "input.features", IntAttr("to", FloatType)));
            current = "input.features";
        }
        return current;
    }

    private static Proto DoubleTensor(string name, double[] values)
    {
        var tensor = new Proto().Int(1, values.Length).Int(2, DoubleType).String(8, name);
        var raw = new byte[values.Length * 8];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteDoubleLittleEndian(raw.AsSpan(i * 8), values[i]);
        return tensor.Bytes(9, raw);
    }

    /// <summary>
    /// The nodes of <paramref name="activation"/> from <paramref name="z"/> to <paramref name="a"/> (not identity): one
    /// operator (Relu, Sigmoid, Tanh, Softmax over axis 1, LeakyRelu α 0.01, Elu α 1), or GELU as 0.5·z·(1 + Erf(z/√2))
    /// and SiLU as z·Sigmoid(z), their constants initializers named after <paramref name="id"/>. Returns <paramref name="a"/>.
    /// </summary>
    private static string ActivationNodes(Activation activation, string z, string a, string id, Action<Proto> node, Action<Proto> initializer)
    {
        switch (activation)
        {
            case Activation.GELU:
                initializer(Tensor($"{id}.sqrt2", [1], [MathF.Sqrt(2f)]));
                initializer(Tensor($"{id}.one", [1], [1f]));
                initializer(Tensor($"{id}.half", [1], [0.5f]));
                node(Node("Div", $"{id}.gelu.div", [z, $"{id}.sqrt2"], $"{id}.gelu.scaled"));
                node(Node("Erf", $"{id}.gelu.erf", [$"{id}.gelu.scaled"], $"{id}.gelu.erf"));
                node(Node("Add", $"{id}.gelu.add", [$"{id}.gelu.erf", $"{id}.one"], $"{id}.gelu.cdf2"));
                node(Node("Mul", $"{id}.gelu.mul", [z, $"{id}.gelu.cdf2"], $"{id}.gelu.twice"));
                node(Node("Mul", $"{id}.gelu", [$"{id}.gelu.twice", $"{id}.half"], a));
                return a;
            case Activation.SiLU:
                node(Node("Sigmoid", $"{id}.silu.sigmoid", [z], $"{id}.silu.s"));
                node(Node("Mul", $"{id}.silu", [z, $"{id}.silu.s"], a));
                return a;
        }
        var (op, attribute) = activation switch
        {
            Activation.ReLU => ("Relu", null),
            Activation.Sigmoid => ("Sigmoid", null),
            Activation.Tanh => ("Tanh", null),
            Activation.Softmax => ("Softmax", IntAttr("axis", 1)),
            Activation.LeakyReLU => ("LeakyRelu", FloatAttr("alpha", 0.01f)),
            Activation.ELU => ("Elu", FloatAttr("alpha", 1f)),
            _ => throw new ArgumentOutOfRangeException(nameof(activation), $"activation {activation} has no ONNX operator here"),
        };
        node(Node(op, $"{id}.{op.ToLowerInvariant()}", [z], a, attribute));
        return a;
    }

    private static Proto FloatAttr(string name, float value) => new Proto().String(1, name).Float(2, value).Int(20, FloatAttribute);
}
