using DistributedNN.Protocol;

namespace DistributedNN.Transport;

/// <summary>
/// A worker's link to its coordinator: what a worker needs of its coordinator, whatever carries it (tcp, shm, akka).
/// One thread (the worker's order loop) takes orders, reads weights, fills gradient buffers and sends results; the
/// worker actor hands it the chunks of the akka transport (<see cref="Receive"/>) and closes it.
/// </summary>
public interface ICoordinatorLink : IDisposable
{
    /// <summary>The next order, waiting up to <paramref name="timeoutMs"/>; null when none came (or the link is closed).</summary>
    WorkOrder? TakeOrder(int timeoutMs);

    /// <summary>The weights of <paramref name="version"/>, or null when the link holds another version (the order is stale: skip it).</summary>
    ReadOnlyMemory<float>? Weights(long version);

    /// <summary>Where lane <paramref name="lane"/> writes the gradient of <paramref name="shard"/> (shm: straight into the shared file).</summary>
    Memory<float> GradientBuffer(int shard, int lane);

    /// <summary>Sends a result and, for shard work, the gradient lane <paramref name="lane"/> wrote; false when the link is gone.</summary>
    bool Send(WorkResult result, int lane);

    /// <summary>A frame that reached the worker as an Akka message from its coordinator (the akka transport; others ignore it).</summary>
    void Receive(TensorChunk chunk);

    /// <summary>No more orders: wakes <see cref="TakeOrder"/> for good. <see cref="IDisposable.Dispose"/> frees the rest once the order loop ended.</summary>
    void Close();

    bool IsClosed { get; }
}
