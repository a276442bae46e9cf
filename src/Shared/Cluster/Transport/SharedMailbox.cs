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

    private SharedMailbox(SharedMapping mapping, int layers)
    {
        _mapping = mapping;
        _base = mapping.Base;
        Layers = layers;
        (_orderSize, _resultSize) = SlotSizes(layers);
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
        TryPost(OrdersWritten, OrdersRead, index => OrderSlot(index), _orderSize, slot => WorkCodec.Write(order, slot));

    /// <summary>The next order (worker side), or null when none is waiting; a slot that holds no order is skipped.</summary>
    public WorkOrder? TryTakeOrder() => TryTake(OrdersWritten, OrdersRead, index => OrderSlot(index), _orderSize,
        slot => WorkCodec.ReadOrder(slot, WorkCodec.MaxItems), out var order) ? order : null;

    /// <summary>Sleeps until an order may be waiting, the mailbox closes, or <paramref name="timeoutMs"/> passes.</summary>
    public void WaitForOrder(int timeoutMs) => WaitWhile(OrdersWritten, OrdersRead, timeoutMs);

    // ---- results: worker → coordinator ----

    /// <summary>Publishes a result (worker side), its gradient already in place; false when full or closed.</summary>
    public bool TryPostResult(WorkResult result) =>
        TryPost(ResultsWritten, ResultsRead, index => ResultSlot(index), _resultSize, slot => WorkCodec.Write(result, slot));

    /// <summary>The next result (coordinator side), or null when none is waiting; a slot that holds no result is skipped.</summary>
    public WorkResult? TryTakeResult() => TryTake(ResultsWritten, ResultsRead, index => ResultSlot(index), _resultSize,
        slot => WorkCodec.ReadResult(slot, Layers), out var result) ? result : null;

    /// <summary>Sleeps until a result may be waiting, the mailbox closes, or <paramref name="timeoutMs"/> passes.</summary>
    public void WaitForResult(int timeoutMs) => WaitWhile(ResultsWritten, ResultsRead, timeoutMs);

    private delegate byte* SlotAt(int index);

    private bool TryPost(int writtenWord, int readWord, SlotAt slotAt, int size, Func<Span<byte>, int> write)
    {
        int written = *Word(writtenWord);
        if (IsClosed || written - Volatile.Read(ref *Word(readWord)) >= Slots) return false;
        write(new Span<byte>(slotAt(written), size));
        Volatile.Write(ref *Word(writtenWord), written + 1); // the slot is whole before the count says so
        Futex.WakeAll(Word(writtenWord));
        return true;
    }

    /// <summary>Takes the next slot if one is waiting (true), decoded by <paramref name="read"/> (null: not readable, skipped).</summary>
    private bool TryTake<T>(int writtenWord, int readWord, SlotAt slotAt, int size, ReadSlot<T> read, out T? value) where T : class
    {
        value = null;
        int index = *Word(readWord);
        if (IsClosed || Volatile.Read(ref *Word(writtenWord)) == index) return false;
        value = read(new ReadOnlySpan<byte>(slotAt(index), size));
        Volatile.Write(ref *Word(readWord), index + 1); // the slot may be reused only after it was read
        return true;
    }

    private delegate T? ReadSlot<T>(ReadOnlySpan<byte> slot) where T : class;

    private void WaitWhile(int writtenWord, int readWord, int timeoutMs)
    {
        int written = Volatile.Read(ref *Word(writtenWord));
        if (written != *Word(readWord) || IsClosed) return;
        Futex.Wait(Word(writtenWord), written, timeoutMs);
    }

    public void Dispose() => _mapping.Dispose();
}
