using System.Buffers.Binary;
using DistributedNN.Model;

namespace DistributedNN.Protocol;

/// <summary>
/// The one encoding of a step's orders and results, whatever carries them: the payload of a tcp frame or an Akka chunk
/// (<see cref="Transport.WorkFrames"/>), a slot of the shm mailbox (<see cref="Transport.SharedMailbox"/>).
/// Little-endian:
/// <list type="bullet">
/// <item>order: kind (i32), job (16 bytes), step (i64), version (i64), epoch (i32), step in epoch (i32), count (i32), items (i32 each);</item>
/// <item>result: kind, job, step, version, item (i32), correct (i32), samples (i32), gradient length (i32), loss sum (f64),
/// compute ms (f64), count (i32), activity (i32 each).</item>
/// </list>
/// A reader checks every length against the bytes it has and the bound it is given before it allocates, and refuses
/// (returns null for) anything that cannot be an order or a result: an unknown kind, a negative item, a count too large.
/// </summary>
public static class WorkCodec
{
    /// <summary>The most items one order names: a worker's capacity is capped at this (the shm mailbox's slots are sized by it).</summary>
    public const int MaxItems = 256;

    public const int OrderFixedBytes = 4 + 16 + 8 + 8 + 4 + 4 + 4;
    public const int ResultFixedBytes = 4 + 16 + 8 + 8 + 4 + 4 + 4 + 4 + 8 + 8 + 4;

    /// <summary>Bytes of an order naming <paramref name="items"/> items.</summary>
    public static int OrderBytes(int items) => OrderFixedBytes + 4 * items;

    /// <summary>Bytes of a result carrying <paramref name="layers"/> activity counts.</summary>
    public static int ResultBytes(int layers) => ResultFixedBytes + 4 * layers;

    /// <summary>Writes <paramref name="order"/> at the start of <paramref name="destination"/>; returns the bytes written.</summary>
    public static int Write(WorkOrder order, Span<byte> destination)
    {
        int length = OrderBytes(order.Items.Length);
        if (destination.Length < length) throw new ArgumentException($"an order of {order.Items.Length} items needs {length} bytes, not {destination.Length}");
        var w = new Writer(destination);
        w.Int((int)order.Kind);
        w.Guid(order.Job);
        w.Long(order.Step);
        w.Long(order.Version);
        w.Int(order.Epoch);
        w.Int(order.StepInEpoch);
        w.Ints(order.Items);
        return length;
    }

    /// <summary>The order in <paramref name="source"/>, or null when it cannot be one (or names more than <paramref name="maxItems"/> items).</summary>
    public static WorkOrder? ReadOrder(ReadOnlySpan<byte> source, int maxItems)
    {
        if (source.Length < OrderFixedBytes) return null;
        var r = new Reader(source);
        var kind = (WorkKind)r.Int();
        var (job, step, version, epoch, stepInEpoch) = (r.Guid(), r.Long(), r.Long(), r.Int(), r.Int());
        var items = r.Ints(maxItems);
        if (!Enum.IsDefined(kind) || items is null || step < 0 || version < 0 || epoch < 0 || stepInEpoch < 0) return null;
        foreach (int item in items)
            if (item < 0) return null;
        return new WorkOrder(kind, job, step, version, epoch, stepInEpoch, items);
    }

    /// <summary>Writes <paramref name="result"/> at the start of <paramref name="destination"/>; returns the bytes written.</summary>
    public static int Write(WorkResult result, Span<byte> destination)
    {
        int length = ResultBytes(result.Activity.Length);
        if (destination.Length < length) throw new ArgumentException($"a result of {result.Activity.Length} layers needs {length} bytes, not {destination.Length}");
        var w = new Writer(destination);
        w.Int((int)result.Kind);
        w.Guid(result.Job);
        w.Long(result.Step);
        w.Long(result.Version);
        w.Int(result.Item);
        w.Int(result.Stats.Correct);
        w.Int(result.Stats.Count);
        w.Int(result.GradientLength);
        w.Double(result.Stats.LossSum);
        w.Double(result.ComputeMilliseconds);
        w.Ints(result.Activity);
        return length;
    }

    /// <summary>The result in <paramref name="source"/>, or null when it cannot be one (or carries more than <paramref name="maxLayers"/> counts).</summary>
    public static WorkResult? ReadResult(ReadOnlySpan<byte> source, int maxLayers)
    {
        if (source.Length < ResultFixedBytes) return null;
        var r = new Reader(source);
        var kind = (WorkKind)r.Int();
        var (job, step, version, item) = (r.Guid(), r.Long(), r.Long(), r.Int());
        var (correct, samples, gradientLength) = (r.Int(), r.Int(), r.Int());
        var (loss, ms) = (r.Double(), r.Double());
        var activity = r.Ints(maxLayers);
        if (!Enum.IsDefined(kind) || activity is null || item < 0 || samples < 0 || gradientLength < 0) return null;
        return new WorkResult(kind, job, step, version, item, new BatchStats(loss, correct, samples), ms, gradientLength, activity);
    }

    private ref struct Writer(Span<byte> bytes)
    {
        private readonly Span<byte> _bytes = bytes;
        private int _at;

        public void Int(int v) { BinaryPrimitives.WriteInt32LittleEndian(_bytes[_at..], v); _at += 4; }
        public void Long(long v) { BinaryPrimitives.WriteInt64LittleEndian(_bytes[_at..], v); _at += 8; }
        public void Double(double v) { BinaryPrimitives.WriteDoubleLittleEndian(_bytes[_at..], v); _at += 8; }
        public void Guid(Guid v) { v.TryWriteBytes(_bytes[_at..]); _at += 16; }

        public void Ints(ReadOnlySpan<int> values)
        {
            Int(values.Length);
            foreach (int v in values) Int(v);
        }
    }

    private ref struct Reader(ReadOnlySpan<byte> bytes)
    {
        private readonly ReadOnlySpan<byte> _bytes = bytes;
        private int _at;

        public int Int() { int v = BinaryPrimitives.ReadInt32LittleEndian(_bytes[_at..]); _at += 4; return v; }
        public long Long() { long v = BinaryPrimitives.ReadInt64LittleEndian(_bytes[_at..]); _at += 8; return v; }
        public double Double() { double v = BinaryPrimitives.ReadDoubleLittleEndian(_bytes[_at..]); _at += 8; return v; }
        public Guid Guid() { var v = new Guid(_bytes.Slice(_at, 16)); _at += 16; return v; }

        /// <summary>A count and that many values; null when the count is negative, above <paramref name="max"/> or past the end.</summary>
        public int[]? Ints(int max)
        {
            int count = Int();
            if (count < 0 || count > max || (long)_at + 4L * count > _bytes.Length) return null;
            var values = new int[count];
            for (int i = 0; i < count; i++) values[i] = Int();
            return values;
        }
    }
}
