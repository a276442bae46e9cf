using DistributedNN.Protocol;

namespace DistributedNN.Transport;

/// <summary>
/// The coordinator's link to one worker: what the coordinator needs of a worker, whatever carries it (tcp, shm, akka).
/// Called from the coordinator actor only. What comes back — results with their gradients, broken frames, the link's
/// end — reaches the coordinator through the <see cref="IWorkerLinkEvents"/> its transport was made with.
/// </summary>
public interface IWorkerLink : IDisposable
{
    /// <summary>Sends the weights of <paramref name="version"/> (read now or, tcp, until <see cref="Flushed"/>), unless this link already did.</summary>
    void SendWeights(long step, long version, float[] weights);

    /// <summary>Sends an order, after the weights it needs; returns why the worker cannot take it (the caller removes it), or null.</summary>
    string? SendOrder(WorkOrder order);

    /// <summary>Completes once every weight transfer started so far has left the weights array (the optimizer may then rewrite it).</summary>
    Task Flushed { get; }

    /// <summary>Sharded topology (tcp only): a frame of the job's reduce layout, sent in order with the weights and orders.</summary>
    void SendFrame(TensorHeader header, ReadOnlyMemory<float> payload);

    /// <summary>Sharded topology: the worker holds the weights of <paramref name="version"/> from the slice owners (<see cref="SendWeights"/> skips it).</summary>
    void WeightsHeld(long version);

    /// <summary>A frame that reached the coordinator as an Akka message from this link's worker (the akka transport; others ignore it).</summary>
    void Receive(TensorChunk chunk);

    /// <summary>The files the worker opens for its end of the link (shm), or null.</summary>
    SharedFiles? Files { get; }

    /// <summary>Tensor payload bytes sent and received (weights and gradients; not orders and results).</summary>
    long BytesSent { get; }
    long BytesReceived { get; }
}

