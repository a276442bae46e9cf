using System.Runtime.Intrinsics;
using System.Security.Cryptography;

namespace DistributedNN.Data;

/// <summary>How a data set's samples are stored: 32-bit floats, or bytes that read as <c>byte / 255f</c> (pixels).</summary>
public enum SampleElement { Float32, Byte }

/// <summary>
/// A data set's samples, row after row of <see cref="Width"/> values, in the type they came in: floats (CSV), or bytes
/// read as <c>byte / 255f</c> (IDX and image pixels, a quarter of the memory). They sit in a managed array or in a
/// memory-mapped cache file (<see cref="DataCacheFile"/>), whose pages the processes of one host share; either way a
/// reader copies the rows it needs as floats, the same floats for every storage.
/// </summary>
public abstract class SampleRows
{
    protected SampleRows(int count, int width)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        (Count, Width) = (count, width);
    }

    public int Count { get; }
    public int Width { get; }
    public abstract SampleElement Element { get; }

    /// <summary>Rows [<paramref name="start"/>, <paramref name="start"/> + <paramref name="count"/>) as floats into <paramref name="into"/>.</summary>
    public void CopyTo(int start, int count, Span<float> into)
    {
        if ((uint)start > (uint)Count || (uint)count > (uint)(Count - start)) throw new ArgumentOutOfRangeException(nameof(count));
        if (into.Length < (long)count * Width) throw new ArgumentException($"{into.Length} floats cannot hold {count} rows of {Width}", nameof(into));
        Copy(start, count, into[..(count * Width)]);
    }

    /// <summary>The first <paramref name="count"/> rows, without a copy.</summary>
    public abstract SampleRows Take(int count);

    /// <summary>The rows as the floats a reader sees, appended to <paramref name="hash"/> (the data fingerprint's definition).</summary>
    public void AppendTo(IncrementalHash hash)
    {
        int chunk = System.Math.Max(1, (1 << 18) / Width); // about 1 MB of floats at a time
        var scratch = new float[System.Math.Min(Count, chunk) * Width];
        for (int start = 0; start < Count; start += chunk)
        {
            int n = System.Math.Min(chunk, Count - start);
            Copy(start, n, scratch.AsSpan(0, n * Width));
            hash.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(scratch.AsSpan(0, n * Width)));
        }
    }

    /// <summary>The rows at <paramref name="indices"/>, in that order, without a copy (a validation split's two parts).</summary>
    public SampleRows Select(int[] indices) => new SelectedRows(this, indices);

    /// <summary>The stored bytes of every row: what a cache file holds.</summary>
    internal void WriteTo(Stream stream) => WriteTo(stream, 0, Count);

    /// <summary>The stored bytes of rows [start, start + count).</summary>
    internal abstract void WriteTo(Stream stream, int start, int count);

    protected abstract void Copy(int start, int count, Span<float> into);

    /// <summary>Floats in a managed array.</summary>
    public static SampleRows Of(float[] values, int width) => new FloatArrayRows(values, width);

    /// <summary>Bytes in a managed array, read as byte / 255f.</summary>
    public static SampleRows Of(byte[] values, int width) => new ByteArrayRows(values, width);

    /// <summary>byte / 255f for every byte: the division, rounded once, as the PyTorch reference (ToTensor) does.</summary>
    public static void Scale(ReadOnlySpan<byte> bytes, Span<float> into)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var divisor = Vector256.Create(255f);
            for (; i + 32 <= bytes.Length; i += 32)
            {
                var b = Vector256.Create(bytes.Slice(i, 32));
                var (lo, hi) = Vector256.Widen(b);
                var (a0, a1) = Vector256.Widen(lo);
                var (a2, a3) = Vector256.Widen(hi);
                // every int below 2^24 is a float exactly, and IEEE division is correctly rounded: the same bits as i / 255f
                (Vector256.ConvertToSingle(a0.AsInt32()) / divisor).CopyTo(into.Slice(i, 8));
                (Vector256.ConvertToSingle(a1.AsInt32()) / divisor).CopyTo(into.Slice(i + 8, 8));
                (Vector256.ConvertToSingle(a2.AsInt32()) / divisor).CopyTo(into.Slice(i + 16, 8));
                (Vector256.ConvertToSingle(a3.AsInt32()) / divisor).CopyTo(into.Slice(i + 24, 8));
            }
        }
        for (; i < bytes.Length; i++)
            into[i] = bytes[i] / 255f;
    }

    private sealed class FloatArrayRows : SampleRows
    {
        public FloatArrayRows(float[] values, int width) : base(values.Length / width, width)
        {
            if (values.Length % width != 0) throw new ArgumentException($"{values.Length} values are not rows of {width}");
            Values = values;
        }

        public float[] Values { get; }
        public override SampleElement Element => SampleElement.Float32;
        public override SampleRows Take(int count) => new FloatArrayRows(Values.AsSpan(0, count * Width).ToArray(), Width);
        protected override void Copy(int start, int count, Span<float> into) => Values.AsSpan(start * Width, count * Width).CopyTo(into);
        internal override void WriteTo(Stream stream, int start, int count) =>
            stream.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(Values.AsSpan(start * Width, count * Width)));
    }

    private sealed class ByteArrayRows : SampleRows
    {
        private readonly byte[] _values;

        public ByteArrayRows(byte[] values, int width) : base(values.Length / width, width)
        {
            if (values.Length % width != 0) throw new ArgumentException($"{values.Length} values are not rows of {width}");
            _values = values;
        }

        public override SampleElement Element => SampleElement.Byte;
        public override SampleRows Take(int count) => new ByteArrayRows(_values.AsSpan(0, count * Width).ToArray(), Width);
        protected override void Copy(int start, int count, Span<float> into) => Scale(_values.AsSpan(start * Width, count * Width), into);
        internal override void WriteTo(Stream stream, int start, int count) => stream.Write(_values, start * Width, count * Width);
    }

    private sealed class SelectedRows : SampleRows
    {
        private readonly SampleRows _rows;
        private readonly int[] _indices;

        public SelectedRows(SampleRows rows, int[] indices) : base(indices.Length, rows.Width)
        {
            foreach (int i in indices)
                if ((uint)i >= (uint)rows.Count) throw new ArgumentOutOfRangeException(nameof(indices), $"row {i} of {rows.Count}");
            (_rows, _indices) = (rows, indices);
        }

        public override SampleElement Element => _rows.Element;
        public override SampleRows Take(int count) => new SelectedRows(_rows, _indices[..System.Math.Min(count, Count)]);

        protected override void Copy(int start, int count, Span<float> into)
        {
            for (int r = 0; r < count; r++)
                _rows.Copy(_indices[start + r], 1, into.Slice(r * Width, Width));
        }

        internal override void WriteTo(Stream stream, int start, int count)
        {
            for (int r = start; r < start + count; r++)
                _rows.WriteTo(stream, _indices[r], 1);
        }
    }

    /// <summary>The float view of <see cref="SampleRows.Of(float[], int)"/>'s array (null for any other storage).</summary>
    internal float[]? FloatArray => (this as FloatArrayRows)?.Values;
}

/// <summary>Rows at an address that stays valid while <see cref="Owner"/> lives: a mapped cache file's view.</summary>
internal sealed unsafe class MappedRows : SampleRows
{
    private readonly byte* _start;

    public MappedRows(byte* start, int count, int width, SampleElement element, object owner) : base(count, width)
    {
        _start = start;
        (Element, Owner) = (element, owner);
    }

    public override SampleElement Element { get; }

    /// <summary>What keeps the mapping alive (the view accessor).</summary>
    public object Owner { get; }

    private int ElementSize => Element == SampleElement.Float32 ? 4 : 1;

    public override SampleRows Take(int count) => new MappedRows(_start, System.Math.Min(count, Count), Width, Element, Owner);

    protected override void Copy(int start, int count, Span<float> into)
    {
        byte* first = _start + (long)start * Width * ElementSize;
        if (Element == SampleElement.Byte) Scale(new ReadOnlySpan<byte>(first, count * Width), into);
        else new ReadOnlySpan<float>(first, count * Width).CopyTo(into);
        GC.KeepAlive(Owner);
    }

    internal override void WriteTo(Stream stream, int start, int count)
    {
        byte* first = _start + (long)start * Width * ElementSize;
        long length = (long)count * Width * ElementSize;
        for (long done = 0; done < length; done += int.MaxValue / 2)
            stream.Write(new ReadOnlySpan<byte>(first + done, (int)System.Math.Min(int.MaxValue / 2, length - done)));
        GC.KeepAlive(Owner);
    }
}
