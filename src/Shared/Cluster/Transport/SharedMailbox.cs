using Akka.Actor;
using DistributedNN.Protocol;

namespace DistributedNN.Transport;

/// <summary>
/// The shm transport's notices: a file in /dev/shm per worker (made by the coordinator, mode 600) with two
/// single-producer rings — orders (<see cref="ComputeShards"/>) from the coordinator to the worker, shard results
/// from the worker back — each with a written and a read counter on its own cache line. A consumer sleeps in
/// <see cref="Futex.Wait"/> on the written counter and the producer wakes it, so a step's order and its results
/// cross between the processes without Akka.Remote, the thread pool or a socket. A ring that is full is the
/// producer's to handle (the coordinator drops a worker that stopped reading its orders). Either side
/// <see cref="Close"/>s it to end the other's wait for good.
/// </summary>
public sealed unsafe class SharedMailbox : IDisposable
{
    private const long Magic = 0x31_58_42_4D_4E_4E_44; // "DNNMBX1"
    /// <summary>Orders (and results) that may wait in a ring.</summary>
    public const int Slots = 64;
    private const int Line = 64;
    // the counters, each on its own cache line
    private const int OrdersWritten = 1 * Line, OrdersRead = 2 * Line, ResultsWritten = 3 * Line, ResultsRead = 4 * Line, ClosedWord = 5 * Line;
    private const int RingsStart = 6 * Line;
    // an order: job, step, version, epoch, step in epoch, shard count, shards
    private const int OrderFixed = 16 + 8 + 8 + 4 + 4 + 4;
    // a result: job, step, version, loss sum, milliseconds, shard, correct, samples, gradient length, activity count, activity
    private const int ResultFixed = 16 + 8 + 8 + 8 + 8 + 4 + 4 + 4 + 4 + 4;

    private readonly SharedMapping _mapping;
    private readonly byte* _base;
    private readonly int _orderSize, _resultSize;

    private SharedMailbox(SharedMapping mapping, int maxShards, int layers)
    {
        _mapping = mapping;
        _base = mapping.Base;
        MaxShards = maxShards;
        Layers = layers;
        (_orderSize, _resultSize) = SlotSizes(maxShards, layers);
    }

    public string Path => _mapping.Path;
    /// <summary>The most shards one order can name (the job's shard count).</summary>
    public int MaxShards { get; }
    /// <summary>Activity counts a result carries (the network's layers).</summary>
    public int Layers { get; }

    private static (int Order, int Result) SlotSizes(int maxShards, int layers) =>
        (RoundUp(OrderFixed + 4 * maxShards), RoundUp(ResultFixed + 4 * layers));

    private static int RoundUp(int bytes) => (bytes + 7) & ~7;

    private static long Bytes(int maxShards, int layers)
    {
        var (order, result) = SlotSizes(maxShards, layers);
        return RingsStart + (long)Slots * (order + result);
    }

    public static SharedMailbox Create(string path, int maxShards, int layers)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxShards);
        ArgumentOutOfRangeException.ThrowIfNegative(layers);
        var box = new SharedMailbox(SharedMapping.Create(path, Bytes(maxShards, layers)), maxShards, layers);
        var h = (int*)box._base;
        h[2] = maxShards;
        h[3] = layers;
        Volatile.Write(ref *(long*)box._base, Magic);
        return box;
    }

    /// <exception cref="IOException">The file is missing, or not a mailbox of this shape.</exception>
    public static SharedMailbox Open(string path, int maxShards, int layers)
    {
        var box = new SharedMailbox(SharedMapping.Open(path, Bytes(maxShards, layers)), maxShards, layers);
        var h = (int*)box._base;
        if (Volatile.Read(ref *(long*)box._base) != Magic || h[2] != maxShards || h[3] != layers)
        {
            box.Dispose();
            throw new IOException($"{path} is not a mailbox for {maxShards} shards and {layers} layers");
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
    public bool TryPostOrder(ComputeShards order)
    {
        if (order.Shards.Length > MaxShards) throw new ArgumentException($"an order of {order.Shards.Length} shards; the mailbox holds {MaxShards}");
        int written = *Word(OrdersWritten);
        if (IsClosed || written - Volatile.Read(ref *Word(OrdersRead)) >= Slots) return false;
        byte* p = OrderSlot(written);
        *(Guid*)p = order.Job;
        *(long*)(p + 16) = order.Step;
        *(long*)(p + 24) = order.Version;
        *(int*)(p + 32) = order.Epoch;
        *(int*)(p + 36) = order.StepInEpoch;
        *(int*)(p + 40) = order.Shards.Length;
        order.Shards.AsSpan().CopyTo(new Span<int>(p + OrderFixed, order.Shards.Length));
        Volatile.Write(ref *Word(OrdersWritten), written + 1); // the slot is whole before the count says so
        Futex.WakeAll(Word(OrdersWritten));
        return true;
    }

    /// <summary>The next order (worker side), or null when none is waiting.</summary>
    public ComputeShards? TryTakeOrder()
    {
        int read = *Word(OrdersRead);
        if (IsClosed || Volatile.Read(ref *Word(OrdersWritten)) == read) return null;
        byte* p = OrderSlot(read);
        int count = System.Math.Clamp(*(int*)(p + 40), 0, MaxShards);
        var order = new ComputeShards(*(Guid*)p, *(long*)(p + 16), *(long*)(p + 24), *(int*)(p + 32), *(int*)(p + 36),
            new ReadOnlySpan<int>(p + OrderFixed, count).ToArray());
        Volatile.Write(ref *Word(OrdersRead), read + 1); // the slot may be reused only after it was read
        return order;
    }

    /// <summary>Sleeps until an order may be waiting, the mailbox closes, or <paramref name="timeoutMs"/> passes.</summary>
    public void WaitForOrder(int timeoutMs) => WaitWhile(OrdersWritten, OrdersRead, timeoutMs);

    // ---- results: worker → coordinator ----

    /// <summary>Publishes a shard's result (worker side), its gradient already in place; false when full or closed.</summary>
    public bool TryPostResult(Guid job, long step, long version, int shard, double lossSum, int correct, int samples, double milliseconds,
        int gradientLength, ReadOnlySpan<int> activity)
    {
        int written = *Word(ResultsWritten);
        if (IsClosed || written - Volatile.Read(ref *Word(ResultsRead)) >= Slots) return false;
        int n = System.Math.Min(activity.Length, Layers);
        byte* p = ResultSlot(written);
        *(Guid*)p = job;
        *(long*)(p + 16) = step;
        *(long*)(p + 24) = version;
        *(double*)(p + 32) = lossSum;
        *(double*)(p + 40) = milliseconds;
        *(int*)(p + 48) = shard;
        *(int*)(p + 52) = correct;
        *(int*)(p + 56) = samples;
        *(int*)(p + 60) = gradientLength;
        *(int*)(p + 64) = n;
        activity[..n].CopyTo(new Span<int>(p + ResultFixed, n));
        Volatile.Write(ref *Word(ResultsWritten), written + 1);
        Futex.WakeAll(Word(ResultsWritten));
        return true;
    }

    /// <summary>The next result (coordinator side) as the message a worker would send, or null when none is waiting.</summary>
    public ShardResult? TryTakeResult(IActorRef worker)
    {
        int read = *Word(ResultsRead);
        if (IsClosed || Volatile.Read(ref *Word(ResultsWritten)) == read) return null;
        byte* p = ResultSlot(read);
        int n = System.Math.Clamp(*(int*)(p + 64), 0, Layers);
        var result = new ShardResult(*(Guid*)p, *(long*)(p + 16), *(long*)(p + 24), *(int*)(p + 48), worker, *(double*)(p + 32),
            *(int*)(p + 52), *(int*)(p + 56), *(double*)(p + 40), *(int*)(p + 60), new ReadOnlySpan<int>(p + ResultFixed, n).ToArray());
        Volatile.Write(ref *Word(ResultsRead), read + 1);
        return result;
    }

    /// <summary>Sleeps until a result may be waiting, the mailbox closes, or <paramref name="timeoutMs"/> passes.</summary>
    public void WaitForResult(int timeoutMs) => WaitWhile(ResultsWritten, ResultsRead, timeoutMs);

    private void WaitWhile(int writtenWord, int readWord, int timeoutMs)
    {
        int written = Volatile.Read(ref *Word(writtenWord));
        if (written != *Word(readWord) || IsClosed) return;
        Futex.Wait(Word(writtenWord), written, timeoutMs);
    }

    public void Dispose() => _mapping.Dispose();
}
