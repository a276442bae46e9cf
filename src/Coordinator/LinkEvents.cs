using Akka.Actor;
using DistributedNN.Protocol;
using DistributedNN.Transport;

namespace DistributedNN.Coordinator;

/// <summary>The link to a registered worker is open.</summary>
internal sealed record LinkOpened(RegisteredWorker Worker, IWorkerLink Link);

/// <summary>The link to a registered worker could not be opened.</summary>
internal sealed record LinkFailed(IActorRef Worker, string Reason);

/// <summary>A link's result reached the coordinator (its gradient, for shard work, in a pool buffer).</summary>
internal sealed record LinkDelivered(IWorkerLink Link, WorkResult Result, float[]? Gradient);

/// <summary>A link's worker sent something the protocol does not allow.</summary>
internal sealed record LinkViolated(IWorkerLink Link, string Reason);

/// <summary>A link is broken or was closed by its worker.</summary>
internal sealed record LinkLost(IWorkerLink Link, string Reason);

/// <summary>The links' reports, from their threads, as messages to the coordinator actor.</summary>
internal sealed class LinkEvents(IActorRef coordinator) : IWorkerLinkEvents
{
    public void Delivered(IWorkerLink link, WorkResult result, float[]? gradient) => coordinator.Tell(new LinkDelivered(link, result, gradient));
    public void Violated(IWorkerLink link, string reason) => coordinator.Tell(new LinkViolated(link, reason));
    public void Lost(IWorkerLink link, string reason) => coordinator.Tell(new LinkLost(link, reason));
}
