using System.Buffers.Binary;
using System.Text;

namespace DistributedNN.Serialization;

/// <summary>The ONNX messages <see cref="OnnxExport"/> writes: nodes, attributes, tensors with raw little-endian data,
/// value infos, and the small protobuf encoder under them (field numbers as in onnx.proto).</summary>
public static partial class OnnxExport
{
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

        public Proto Float(int field, float value)
        {
            Tag(field, 5); // 32-bit
            Span<byte> bytes = stackalloc byte[4];
            BinaryPrimitives.WriteSingleLittleEndian(bytes, value);
            _bytes.Write(bytes);
            return this;
        }

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
