using System.Buffers;

namespace DistributedNN.Transport;

/// <summary>
/// A <see cref="Memory{T}"/> of bytes over memory that the caller keeps pinned (a <see cref="MemoryHandle"/> held
/// for the whole socket operation). This is how a float buffer is handed to <c>Socket.SendAsync</c>/<c>ReceiveAsync</c>
/// as bytes without copying: <see cref="System.Runtime.InteropServices.MemoryMarshal.AsBytes{T}(Span{T})"/> only
/// works on spans, and socket calls that can wait need a Memory.
/// </summary>
internal sealed unsafe class PinnedBytes : MemoryManager<byte>
{
    private readonly byte* _pointer;
    private readonly int _length;

    private PinnedBytes(byte* pointer, int length)
    {
        _pointer = pointer;
        _length = length;
    }

    /// <summary>
    /// <paramref name="byteLength"/> bytes starting <paramref name="byteOffset"/> bytes into the memory pinned by
    /// <paramref name="pin"/>. Valid only while <paramref name="pin"/> is not disposed.
    /// </summary>
    public static Memory<byte> Over(in MemoryHandle pin, long byteOffset, int byteLength)
    {
        if (byteLength == 0) return Memory<byte>.Empty;
        return new PinnedBytes((byte*)pin.Pointer + byteOffset, byteLength).Memory;
    }

    public override Span<byte> GetSpan() => new(_pointer, _length);

    public override MemoryHandle Pin(int elementIndex = 0)
    {
        if ((uint)elementIndex > (uint)_length) throw new ArgumentOutOfRangeException(nameof(elementIndex));
        return new MemoryHandle(_pointer + elementIndex); // already pinned by the owner: nothing to release
    }

    public override void Unpin() { }

    protected override void Dispose(bool disposing) { }
}
