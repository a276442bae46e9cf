using System.Collections.Concurrent;
using DistributedNN.Protocol;
using DistributedNN.Transport;

namespace DistributedNN.Tests.Transport;

/// <summary>What a link reported, as the coordinator would get it, in order (with the link's thread's exceptions: none expected).</summary>
internal sealed class RecordingLinkEvents : IWorkerLinkEvents
{
    public ConcurrentQueue<string> Reports { get; } = new();
    public int Delivered;

    void IWorkerLinkEvents.Delivered(IWorkerLink link, WorkResult result, float[]? gradient)
    {
        Interlocked.Increment(ref Delivered);
        Reports.Enqueue($"delivered {result.Item}");
    }

    public void Violated(IWorkerLink link, string reason) => Reports.Enqueue($"violated: {reason}");
    public void Lost(IWorkerLink link, string reason) => Reports.Enqueue($"lost: {reason}");
}
