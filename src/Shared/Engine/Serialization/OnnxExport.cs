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
/// out (inference).
/// <para>
/// Written with a small protobuf encoder of the few ONNX messages needed (ModelProto, GraphProto,
/// NodeProto, AttributeProto, TensorProto with raw little-endian data, ValueInfoProto), field
/// numbers as in onnx.proto.
/// </para>
/// </summary>
public static class OnnxExport
{
    public const int Opset = 13;
    private const long IrVersion = 8;
    private const int FloatType = 1;       // TensorProto.DataType.FLOAT
    private const int IntAttribute = 2;    // AttributeProto.AttributeType.INT
    private const int IntsAttribute = 7;   // AttributeProto.AttributeType.INTS
    private const int Int64Type = 7;       // TensorProto.DataType.INT64

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
        string current = "input";
        for (int l = 0; l < spec.Layers.Count; l++)
        {
            var layer = spec.Layers[l];
            string w = $"layer{l + 1}.weight", b = $"layer{l + 1}.bias", z = $"layer{l + 1}.z";
            bool last = l == spec.Layers.Count - 1;
            string activation = layer.Activation switch
            {
                Activation.Identity => "",
                Activation.ReLU => "Relu",
                Activation.Sigmoid => "Sigmoid",
                Activation.Tanh => "Tanh",
                Activation.Softmax => "Softmax",
                _ => throw new ArgumentOutOfRangeException(nameof(model), $"activation {layer.Activation} has no ONNX operator here"),
            };
            string gemmOut = activation.Length == 0 ? (last ? "output" : z) : z;
            graph.Message(1, Node("Gemm", $"layer{l + 1}.gemm", [current, w, b], gemmOut, new Proto().String(1, "transB").Int(3, 1).Int(20, IntAttribute)));
            if (activation.Length > 0)
            {
                string actOut = last ? "output" : $"layer{l + 1}.a";
                var attribute = activation == "Softmax" ? new Proto().String(1, "axis").Int(3, 1).Int(20, IntAttribute) : null;
                graph.Message(1, Node(activation, $"layer{l + 1}.{activation.ToLowerInvariant()}", [gemmOut], actOut, attribute));
                current = actOut;
            }
            else current = gemmOut;
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

    /// <summary>The nodes and initializers of a graph network; every value is N×size (2-D) or N×C×H×W (4-D).</summary>
    private static void WriteGraph(Proto graph, TrainedModel model)
    {
        var spec = model.Spec;
        var nodes = new List<Proto>();
        var initializers = new List<Proto>();
        var names = new string[spec.Layers.Count];
        var fourD = new bool[spec.Layers.Count];
        int reshapes = 0;
        // a value in the rank a reader needs: Reshape to N×C×H×W, or Flatten to N×size
        string As(int from, bool want4D)
        {
            string name = from < 0 ? "input" : names[from];
            bool is4D = from >= 0 && fourD[from];
            var shape = from < 0 ? spec.InputShape : spec.Layers[from].OutShape;
            if (is4D == want4D) return name;
            string to = $"{name}.{(want4D ? "nchw" : "flat")}{++reshapes}";
            if (want4D)
            {
                string shapeName = $"shape{reshapes}";
                initializers.Add(LongTensor(shapeName, [-1, shape.Channels, shape.Height, shape.Width]));
                nodes.Add(Node("Reshape", to, [name, shapeName], to));
            }
            else nodes.Add(Node("Flatten", to, [name], to, IntAttr("axis", 1)));
            return to;
        }
        for (int l = 0; l < spec.Layers.Count; l++)
        {
            var layer = spec.Layers[l];
            var from = NetworkSpec.Sources(layer, l);
            string id = $"layer{l + 1}", z = $"{id}.z";
            bool out4D;
            switch (layer.Kind)
            {
                case LayerKind.Dense:
                    initializers.Add(Tensor($"{id}.weight", [layer.Outputs, layer.Inputs], model.Parameters.AsSpan(spec.WeightOffset(l), layer.WeightCount)));
                    initializers.Add(Tensor($"{id}.bias", [layer.Outputs], model.Parameters.AsSpan(spec.BiasOffset(l), layer.BiasCount)));
                    nodes.Add(Node("Gemm", $"{id}.gemm", [As(from[0], false), $"{id}.weight", $"{id}.bias"], z, IntAttr("transB", 1)));
                    out4D = false;
                    break;
                case LayerKind.Conv:
                {
                    int c = layer.InShape.Channels, f = layer.OutShape.Channels, k = layer.Kernel, pad = layer.Padding;
                    initializers.Add(Tensor($"{id}.weight", [f, c, k, k], model.Parameters.AsSpan(spec.WeightOffset(l), layer.WeightCount)));
                    initializers.Add(Tensor($"{id}.bias", [f], model.Parameters.AsSpan(spec.BiasOffset(l), layer.BiasCount)));
                    nodes.Add(Node("Conv", $"{id}.conv", [As(from[0], true), $"{id}.weight", $"{id}.bias"], z,
                        IntsAttr("kernel_shape", k, k), IntsAttr("strides", layer.Stride, layer.Stride), IntsAttr("pads", pad, pad, pad, pad)));
                    out4D = true;
                    break;
                }
                case LayerKind.MaxPool or LayerKind.AvgPool:
                    nodes.Add(Node(layer.Kind == LayerKind.MaxPool ? "MaxPool" : "AveragePool", $"{id}.pool", [As(from[0], true)], z,
                        IntsAttr("kernel_shape", layer.Kernel, layer.Kernel), IntsAttr("strides", layer.Stride, layer.Stride)));
                    out4D = true;
                    break;
                case LayerKind.Flatten:
                    z = As(from[0], false); // only the rank changes
                    out4D = false;
                    break;
                case LayerKind.Dropout:
                    out4D = from[0] >= 0 && fourD[from[0]]; // nothing at inference
                    z = As(from[0], out4D);
                    break;
                case LayerKind.Add or LayerKind.Concat:
                {
                    out4D = from.Any(f => f >= 0 && fourD[f]);
                    var inputs = from.Select(f => As(f, out4D)).ToArray();
                    nodes.Add(layer.Kind == LayerKind.Add ? Node("Sum", $"{id}.add", inputs, z) : Node("Concat", $"{id}.concat", inputs, z, IntAttr("axis", 1)));
                    break;
                }
                default: throw new ArgumentOutOfRangeException(nameof(model), $"layer kind {layer.Kind} has no ONNX operator here");
            }
            names[l] = z;
            fourD[l] = out4D;
            if (layer.Activation == Activation.Softmax && fourD[l])
            {
                names[l] = As(l, false); // softmax runs over the whole row, as the engine's
                fourD[l] = false;
            }
            if (ActivationOp(layer.Activation) is { } op)
            {
                string a = $"{id}.a";
                nodes.Add(Node(op, $"{id}.{op.ToLowerInvariant()}", [names[l]], a, op == "Softmax" ? IntAttr("axis", 1) : null));
                names[l] = a;
            }
        }
        nodes.Add(Node("Identity", "output", [As(spec.Layers.Count - 1, false)], "output"));
        foreach (var node in nodes) graph.Message(1, node);
        graph.String(2, "distributednn");
        foreach (var tensor in initializers) graph.Message(5, tensor);
    }

    private static string? ActivationOp(Activation activation) => activation switch
    {
        Activation.Identity => null,
        Activation.ReLU => "Relu",
        Activation.Sigmoid => "Sigmoid",
        Activation.Tanh => "Tanh",
        Activation.Softmax => "Softmax",
        _ => throw new ArgumentOutOfRangeException(nameof(activation), $"activation {activation} has no ONNX operator here"),
    };

    private static Proto IntAttr(string name, long value) => new Proto().String(1, name).Int(3, value).Int(20, IntAttribute);

    private static Proto IntsAttr(string name, params long[] values)
    {
        var attribute = new Proto().String(1, name);
        foreach (long v in values) attribute.Int(8, v);
        return attribute.Int(20, IntsAttribute);
    }

    private static Proto LongTensor(string name, long[] values)
    {
        var tensor = new Proto().Int(1, values.Length).Int(2, Int64Type).String(8, name);
        var raw = new byte[values.Length * 8];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteInt64LittleEndian(raw.AsSpan(i * 8), values[i]);
        return tensor.Bytes(9, raw);
    }

    private static Proto Node(string op, string name, string[] inputs, string output, params Proto?[] attributes)
    {
        var node = new Proto();
        foreach (var input in inputs) node.String(1, input);
        node.String(2, output).String(3, name).String(4, op);
        foreach (var attribute in attributes)
            if (attribute is not null) node.Message(5, attribute);
        return node;
    }

    private static Proto Tensor(string name, long[] dims, ReadOnlySpan<float> values)
    {
        var tensor = new Proto();
        foreach (long d in dims) tensor.Int(1, d);
        tensor.Int(2, FloatType).String(8, name);
        var raw = new byte[values.Length * 4];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(raw.AsSpan(i * 4), values[i]);
        return tensor.Bytes(9, raw);
    }

    // ValueInfoProto{name, type: TypeProto{tensor_type: {elem_type FLOAT, shape: [N, width]}}}
    private static Proto ValueInfo(string name, int width)
    {
        var shape = new Proto()
            .Message(1, new Proto().String(2, "N"))
            .Message(1, new Proto().Int(1, width));
        var tensorType = new Proto().Int(1, FloatType).Message(2, shape);
        return new Proto().String(1, name).Message(2, new Proto().Message(1, tensorType));
    }

    /// <summary>A protobuf message being written: fields appended in call order.</summary>
    private sealed class Proto
    {
        private readonly MemoryStream _bytes = new();

        public Proto Int(int field, long value)
        {
            Tag(field, 0);
            Varint((ulong)value);
            return this;
        }

        public Proto String(int field, string value) => Bytes(field, Encoding.UTF8.GetBytes(value));

        public Proto Bytes(int field, ReadOnlySpan<byte> value)
        {
            Tag(field, 2);
            Varint((ulong)value.Length);
            _bytes.Write(value);
            return this;
        }

        public Proto Message(int field, Proto message) => Bytes(field, message._bytes.GetBuffer().AsSpan(0, (int)message._bytes.Length));

        public byte[] ToArray() => _bytes.ToArray();

        private void Tag(int field, int wireType) => Varint((ulong)((field << 3) | wireType));

        private void Varint(ulong value)
        {
            while (value >= 0x80)
            {
                _bytes.WriteByte((byte)(value | 0x80));
                value >>= 7;
            }
            _bytes.WriteByte((byte)value);
        }
    }
}
