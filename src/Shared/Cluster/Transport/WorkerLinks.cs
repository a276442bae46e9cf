using Akka.Actor;
using DistributedNN.Protocol;

namespace DistributedNN.Transport;

/// <summary>The worker's side of the transports: the one place that opens a job's link by its kind.</summary>
public static class WorkerLinks
{
    /// <param name="lanes">the shards the worker computes at once (one gradient buffer each)</param>
    /// <param name="endpoint">the worker's data-plane listener, whose connection from the coordinator a tcp link uses</param>
    /// <param name="onProblem">told of anything the link refused or lost (for the worker's log)</param>
    /// <exception cref="UserErrorException">The link cannot be opened (shm files out of reach).</exception>
    public static ICoordinatorLink Open(StartJob job, LinkSettings settings, int lanes, DataPlaneEndpoint endpoint, IActorRef coordinator, IActorRef worker,
        Action<string> onProblem) => job.Transport switch
    {
        TransportKind.Tcp => new TcpCoordinatorLink(settings, lanes, endpoint, onProblem),
        TransportKind.Shm => ShmCoordinatorLink.Open(job.SharedFiles, settings),
        TransportKind.Akka => new AkkaCoordinatorLink(settings, lanes, coordinator, worker, onProblem),
        _ => throw new UserErrorException($"transport {job.Transport} is not known to this worker"),
    };
}
