using System.Buffers.Binary;
using System.Text;

namespace DistributedNN.Protocol;

/// <summary>Writes a control-plane record's fields in the form <see cref="WireReader"/> reads (little-endian; −1 lengths for null).</summary>
public sealed class WireWriter(Stream stream)
{
    private readonly byte[] _scratch = new byte[16];

    public void Byte(byte value) => stream.WriteByte(value);
    public void Bool(bool value) => Byte(value ? (byte)1 : (byte)0);
    public void Int(int value) { BinaryPrimitives.WriteInt32LittleEndian(_scratch, value); stream.Write(_scratch, 0, 4); }
    public void Long(long value) { BinaryPrimitives.WriteInt64LittleEndian(_scratch, value); stream.Write(_scratch, 0, 8); }
    public void ULong(ulong value) { BinaryPrimitives.WriteUInt64LittleEndian(_scratch, value); stream.Write(_scratch, 0, 8); }
    public void Double(double value) { BinaryPrimitives.WriteDoubleLittleEndian(_scratch, value); stream.Write(_scratch, 0, 8); }
    public void Guid(Guid value) { value.TryWriteBytes(_scratch); stream.Write(_scratch, 0, 16); }

    public void String(string? value)
    {
        if (value is null) { Int(-1); return; }
        var bytes = Encoding.UTF8.GetBytes(value);
        Int(bytes.Length);
        stream.Write(bytes);
    }

    public void Bytes(byte[]? value)
    {
        Int(value?.Length ?? -1);
        if (value is not null) stream.Write(value);
    }

    public void Ints(int[]? values)
    {
        Int(values?.Length ?? -1);
        foreach (int v in values ?? []) Int(v);
    }
}
