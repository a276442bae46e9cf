using System.Collections.Concurrent;

namespace DistributedNN.Transport;

/// <summary>
/// Thread-safe pool of gradient-sized buffers (pinned): the links' receive paths fill them, the step returns them
/// once summed. Buffers of another length are not taken back.
/// </summary>
public sealed class GradientBufferPool(int length)
{
    private readonly ConcurrentBag<float[]> _free = new();
    public int Length { get; } = length;
    public float[] Rent() => _free.TryTake(out var b) ? b : GC.AllocateUninitializedArray<float>(Length, pinned: true);
    public void Return(float[]? buffer)
    {
        if (buffer is not null && buffer.Length == Length) _free.Add(buffer);
    }
}
