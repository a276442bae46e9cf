using System.Collections.Concurrent;

namespace DistributedNN.Transport;

/// <summary>
/// Thread-safe pool of gradient-sized buffers (pinned): the links' receive paths fill them, the step returns them
/// once summed. It keeps at most <see cref="Capacity"/> spare buffers (a step's shards need as many as it has, twice
/// that leaves room for late results): a buffer returned beyond that, or of another length, is left to the GC, so
/// however many results a worker causes, the pool does not grow past its capacity.
/// </summary>
public sealed class GradientBufferPool
{
    private readonly ConcurrentBag<float[]> _free = new();
    private int _spares; // counted apart from the bag, whose Count takes every lock

    /// <param name="length">floats per buffer (the parameter count)</param>
    /// <param name="capacity">the most spare buffers kept (e.g. twice the shards of a step)</param>
    public GradientBufferPool(int length, int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        (Length, Capacity) = (length, capacity);
    }

    public int Length { get; }
    public int Capacity { get; }

    /// <summary>Spare buffers held now (at most <see cref="Capacity"/>).</summary>
    public int Spares => Volatile.Read(ref _spares);

    public float[] Rent()
    {
        if (!_free.TryTake(out var buffer)) return GC.AllocateUninitializedArray<float>(Length, pinned: true);
        Interlocked.Decrement(ref _spares);
        return buffer;
    }

    public void Return(float[]? buffer)
    {
        if (buffer is null || buffer.Length != Length) return;
        if (Interlocked.Increment(ref _spares) > Capacity)
        {
            Interlocked.Decrement(ref _spares); // full: this one goes to the GC
            return;
        }
        _free.Add(buffer);
    }
}
