using DistributedNN.Protocol;

namespace DistributedNN.Transport;

/// <summary>
/// The shm transport's orders and results: a file in /dev/shm per worker (made by the coordinator, mode 600) with two
/// single-producer rings of <see cref="WorkCodec"/> slots — orders from the coordinator to the worker, results from the
/// worker back — each with a written and a read counter on its own cache line. A consumer sleeps in
/// <see cref="Futex.Wait"/> on the written counter and the producer wakes it, so a step's order and its results
/// cross between the processes without Akka.Remote, the thread pool or a socket. A ring that is full is the
/// producer's to handle (the coordinator drops a worker that stopped reading its orders). Either side
/// <see cref="Close"/>s it to end the other's wait for good.
/// Each side keeps its own counters in its own memory and only publishes them to the file; a counter the other side
/// publishes is checked against them (never more than <see cref="Slots"/> ahead, never behind), and one out of those
/// bounds closes the mailbox with a <see cref="Violation"/>: the other process can make this side read at most a ring's
/// worth of slots, never drive it into a loop or an allocation.
/// </summary>
public sealed unsafe class SharedMailbox : IDisposable
{
    private const long Magic = 0x32_58_42_4D_4E_4E_44; // "DNNMBX2"
    /// <summary>Orders (and results) that may wait in a ring.</summary>
    public const int Slots = 64;
    private const int Line = 64;
    // the counters, each on its own cache line
    private const int OrdersWritten = 1 * Line, OrdersRead = 2 * Line, ResultsWritten = 3 * Line, ResultsRead = 4 * Line, ClosedWord = 5 * Line;
    private const int RingsStart = 6 * Line;

    private readonly SharedMapping _mapping;
    private readonly byte* _base;
    private readonly int _orderSize, _resultSize;
    // this side's counters (each side publishes two of the four): the file's copies are the other side's to overwrite
    private int _ordersWritten, _ordersRead, _resultsWritten, _resultsRead;
    private volatile string? _violation;

    private SharedMailbox(SharedMapping mapping, int layers)
    {
        _mapping = mapping;
        _base = mapping.Base;
        Layers = layers;
        (_orderSize, _resultSize) = SlotSizes(layers);
        (_ordersWritten, _ordersRead, _resultsWritten, _resultsRead) = (*Word(OrdersWritten), *Word(OrdersRead), *Word(ResultsWritten), *Word(ResultsRead));
    }

    public string Path => _mapping.Path;
    /// <summary>Activity counts a result carries (the network's layers).</summary>
    public int Layers { get; }

    private static (int Order, int Result) SlotSizes(int layers) =>
        (RoundUp(WorkCodec.OrderBytes(WorkCodec.MaxItems)), RoundUp(WorkCodec.ResultBytes(layers)));

    private static int RoundUp(int bytes) => (bytes + 7) & ~7;

    private static long Bytes(int layers)
    {
        var (order, result) = SlotSizes(layers);
        return RingsStart + (long)Slots * (order + result);
    }

    public static SharedMailbox Create(string path, int layers)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(layers);
        var box = new SharedMailbox(SharedMapping.Create(path, Bytes(layers)), layers);
        var h = (int*)box._base;
        h[2] = WorkCodec.MaxItems;
        h[3] = layers;
        Volatile.Write(ref *(long*)box._base, Magic);
        return box;
    }

    /// <exception cref="IOException">The file is missing, or not a mailbox of this shape.</exception>
    public static SharedMailbox Open(string path, int layers)
    {
        var box = new SharedMailbox(SharedMapping.Open(path, Bytes(layers)), layers);
        var h = (int*)box._base;
        if (Volatile.Read(ref *(long*)box._base) != Magic || h[2] != WorkCodec.MaxItems || h[3] != layers)
        {
            box.Dispose();
            throw new IOException($"{path} is not a mailbox for {layers} layers");
        }
        return box;
    }

    private int* Word(int offset) => (int*)(_base + offset);
    private byte* OrderSlot(int index) => _base + RingsStart + (long)(index & (Slots - 1)) * _orderSize;
    private byte* ResultSlot(int index) => _base + RingsStart + (long)Slots * _orderSize + (long)(index & (Slots - 1)) * _resultSize;

    /// <summary>Why this side closed the mailbox: a counter of the other side's out of its ring's bounds (null: none was).</summary>
    public string? Violation => _violation;

    /// <summary>Set by either side: no more orders or results; every wait returns.</summary>
    public bool IsClosed => Volatile.Read(ref *Word(ClosedWord)) != 0;

    public void Close()
    {
        Volatile.Write(ref *Word(ClosedWord), 1);
        // a changed word wakes each waiter (its recheck sees the flag)
        Interlocked.Increment(ref *Word(OrdersWritten));
        Interlocked.Increment(ref *Word(ResultsWritten));
        Futex.WakeAll(Word(OrdersWritten));
        Futex.WakeAll(Word(ResultsWritten));
    }

    // ---- orders: coordinator → worker ----

    /// <summary>Publishes an order (coordinator side); false when the ring is full or the mailbox closed.</summary>
    public bool TryPostOrder(WorkOrder order) =>
        TryPost(ref _ordersWritten, OrdersWritten, OrdersRead, index => OrderSlot(index), _orderSize, slot => WorkCodec.Write(order, slot));

    /// <summary>The next order (worker side), or null when none is waiting; a slot that holds no order is skipped.</summary>
    public WorkOrder? TryTakeOrder() => TryTake(ref _ordersRead, OrdersWritten, OrdersRead, index => OrderSlot(index), _orderSize,
        slot => WorkCodec.ReadOrder(slot, WorkCodec.MaxItems), out var order) ? order : null;

    /// <summary>Sleeps until an order may be waiting, the mailbox closes, or <paramref name="timeoutMs"/> passes.</summary>
    public void WaitForOrder(int timeoutMs) => WaitWhile(OrdersWritten, _ordersRead, timeoutMs);

    // ---- results: worker → coordinator ----

    /// <summary>Publishes a result (worker side), its gradient already in place; false when full or closed.</summary>
    public bool TryPostResult(WorkResult result) =>
        TryPost(ref _resultsWritten, ResultsWritten, ResultsRead, index => ResultSlot(index), _resultSize, slot => WorkCodec.Write(result, slot));

    /// <summary>The next result (coordinator side), or null when none is waiting; a slot that holds no result is skipped.</summary>
    public WorkResult? TryTakeResult() => TryTake(ref _resultsRead, ResultsWritten, ResultsRead, index => ResultSlot(index), _resultSize,
        slot => WorkCodec.ReadResult(slot, Layers), out var result) ? result : null;

    /// <summary>Sleeps until a result may be waiting, the mailbox closes, or <paramref name="timeoutMs"/> passes.</summary>
    public void WaitForResult(int timeoutMs) => WaitWhile(ResultsWritten, _resultsRead, timeoutMs);

    private delegate byte* SlotAt(int index);

    private bool TryPost(ref int written, int writtenWord, int readWord, SlotAt slotAt, int size, Func<Span<byte>, int> write)
    {
        if (IsClosed || !InBounds(written, Volatile.Read(ref *Word(readWord)), readWord, out int waiting) || waiting == Slots) return false;
        write(new Span<byte>(slotAt(written), size));
        written++;
        Volatile.Write(ref *Word(writtenWord), written); // the slot is whole before the count says so
        Futex.WakeAll(Word(writtenWord));
        return true;
    }

    /// <summary>Takes the next slot if one is waiting (true), decoded by <paramref name="decode"/> (null: not readable, skipped).</summary>
    private bool TryTake<T>(ref int read, int writtenWord, int readWord, SlotAt slotAt, int size, ReadSlot<T> decode, out T? value) where T : class
    {
        value = null;
        if (IsClosed || !InBounds(Volatile.Read(ref *Word(writtenWord)), read, writtenWord, out int waiting) || waiting == 0) return false;
        value = decode(new ReadOnlySpan<byte>(slotAt(read), size));
        read++;
        Volatile.Write(ref *Word(readWord), read); // the slot may be reused only after it was read
        return true;
    }

    /// <summary>
    /// Whether a ring's counters are consistent: 0 to <see cref="Slots"/> slots between them (wrapping arithmetic). If not,
    /// the other side published a counter it could not have reached: the mailbox closes (the word at <paramref name="offset"/> named).
    /// </summary>
    private bool InBounds(int written, int read, int offset, out int waiting)
    {
        waiting = unchecked(written - read);
        if (waiting is >= 0 and <= Slots) return true;
        if (IsClosed) return false; // a closing side raises the written counters to wake its peer: no violation
        _violation = $"the {(offset is OrdersWritten or OrdersRead ? "order" : "result")} ring's {(offset is OrdersWritten or ResultsWritten ? "written" : "read")} counter " +
            $"is out of bounds ({written} written, {read} read, {Slots} slots)";
        Close();
        return false;
    }

    private delegate T? ReadSlot<T>(ReadOnlySpan<byte> slot) where T : class;

    private void WaitWhile(int writtenWord, int read, int timeoutMs)
    {
        int written = Volatile.Read(ref *Word(writtenWord));
        if (written != read || IsClosed) return;
        Futex.Wait(Word(writtenWord), written, timeoutMs);
    }

    public void Dispose() => _mapping.Dispose();
}
