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

    public static void Save(string path, TrainedModel model) => AtomicFile.Write(path, ToBytes(model));

    public static byte[] ToBytes(TrainedModel model)
    {
        model.Validate();
        var spec = model.Spec;
        if (!spec.IsPlainStack)
            throw new UserErrorException("ONNX export covers dense stacks; export this network (convolution, pooling or skip connections) as JSON: --format json");
        var graph = new Proto();
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

    private static Proto Node(string op, string name, string[] inputs, string output, Proto? attribute)
    {
        var node = new Proto();
        foreach (var input in inputs) node.String(1, input);
        node.String(2, output).String(3, name).String(4, op);
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
