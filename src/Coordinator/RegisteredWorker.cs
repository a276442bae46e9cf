using Akka.Actor;
using DistributedNN.Protocol;
using DistributedNN.Transport;

namespace DistributedNN.Coordinator;

/// <summary>A worker the coordinator knows: its actor, how to reach it, its link once open, whether it is ready for the job.</summary>
public sealed class RegisteredWorker(int id, IActorRef actor, WorkerContact contact, int cores)
{
    /// <summary>Shards in flight per single-core worker (a worker with more cores gets one per core).</summary>
    public const int InFlightPerCore = 2;

    public int Id { get; } = id;
    public IActorRef Actor { get; } = actor;
    public WorkerContact Contact { get; } = contact;
    /// <summary>Items in flight at once: enough to keep each of its cores busy, and one queued; never more than an order can name.</summary>
    public int Capacity { get; } = Math.Clamp(Math.Max(InFlightPerCore, cores), 1, WorkCodec.MaxItems);
    /// <summary>Its link once open (<see cref="WorkerRegistry.Attach"/>).</summary>
    public IWorkerLink? Link { get; internal set; }
    public bool Ready { get; internal set; }
    /// <summary>How logs and statistics name it: the actor's name in this process, host:port/name on another node.</summary>
    public string Name { get; } = actor.Path.Address.HasLocalScope ? actor.Path.Name : $"{actor.Path.Address.Host}:{actor.Path.Address.Port}/{actor.Path.Name}";
}
