using Akka.Actor;

namespace DistributedNN.Transport;

/// <summary>A registered worker, as a transport needs to reach it.</summary>
public sealed record WorkerContact(IActorRef Actor, string DataPlaneHost, int DataPlanePort, byte[]? AccessToken);
