using Akka.Actor;

namespace DistributedNN.Transport;

/// <summary>Akka.Remote messages (<see cref="TensorChunk"/>s, raw bytes) between the coordinator actor and each worker actor: the fallback.</summary>
internal sealed class AkkaCoordinatorTransport(LinkSettings settings, GradientBufferPool pool, IWorkerLinkEvents events, IActorRef coordinator)
    : CoordinatorTransport(settings, pool, events)
{
    protected override Task<IWorkerLink> OpenLinkAsync(WorkerContact worker, CancellationToken ct) =>
        Task.FromResult<IWorkerLink>(new AkkaWorkerLink(worker.Actor, coordinator, Settings, Pool, Events));
}
