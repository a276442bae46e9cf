using DistributedNN.Protocol;

namespace DistributedNN.Transport;

/// <summary>Where a transport's links report, on their own threads; the coordinator turns each call into a message to itself.</summary>
public interface IWorkerLinkEvents
{
    /// <summary>A result arrived, with its gradient for shard work (null when none came with it); the gradient is a pool buffer.</summary>
    void Delivered(IWorkerLink link, WorkResult result, float[]? gradient);

    /// <summary>The worker sent something the protocol does not allow (an unreadable frame, a gradient without its result).</summary>
    void Violated(IWorkerLink link, string reason);

    /// <summary>The link is broken or was closed by the worker: nothing more will arrive on it.</summary>
    void Lost(IWorkerLink link, string reason);
}
