using Akka.Actor;
using DistributedNN.Data;
using DistributedNN.Model;
using DistributedNN.Transport;

namespace DistributedNN.Protocol;

/// <summary>Every control-plane message that crosses the wire; one serializer binding (Hyperion) covers them all.</summary>
public interface IDnnMessage;

/// <summary>
/// Worker → coordinator: a worker offers itself, with its data-plane endpoint and the access token its data-plane
/// listener requires (<see cref="Transport.TensorHandshake"/>; 32 random bytes, null when it requires none).
/// </summary>
public sealed record RegisterWorker(IActorRef Worker, string DataPlaneHost, int DataPlanePort, int Cores, byte[]? AccessToken = null) : IDnnMessage;

/// <summary>
/// Coordinator → worker: the job to prepare for. The worker loads the data, builds the network, opens its end of the
/// link (<see cref="Transport.ICoordinatorLink"/>) and answers <see cref="WorkerReady"/> (with its fingerprint of the
/// data) or <see cref="WorkerRefused"/>. From then on the job's orders, weights, results and gradients travel on the
/// link; <paramref name="SharedFiles"/> names the files of the shm transport's link (null for the others).
/// </summary>
public sealed record StartJob(
    Guid Job, NetworkDescription Network, DataRequest Data, int BatchSize, int Shards, ulong Seed, bool Shuffle,
    int EvaluationChunk, TransportKind Transport, WireFormat GradientFormat = WireFormat.Fp32, WireFormat WeightFormat = WireFormat.Fp32,
    SharedFiles? SharedFiles = null, int AugmentPad = 0, bool AugmentFlip = false, double LabelSmoothing = 0) : IDnnMessage
{
    /// <summary>The training images' random crops and flips (<see cref="Training.Augmentation"/>).</summary>
    public Training.Augmentation Augmentation => new(AugmentPad, AugmentFlip);
}

/// <summary>
/// The shm transport's files for one worker: the coordinator's weights (<see cref="Transport.SharedTensorFile"/>), the
/// worker's gradients, and the mailbox its orders and results pass through (<see cref="Transport.SharedMailbox"/>).
/// </summary>
public sealed record SharedFiles(string Weights, string Gradients, string Mailbox);

public sealed record WorkerReady(Guid Job, IActorRef Worker, string DataFingerprint, int TrainCount, int TestCount) : IDnnMessage;

public sealed record WorkerRefused(Guid Job, IActorRef Worker, string Reason) : IDnnMessage;

/// <summary>
/// Worker → coordinator: this worker is stopping (SIGTERM, Ctrl+C) and takes no more shards; what it was computing goes
/// to the others now, not after its node's cluster leave has run its gossip rounds.
/// </summary>
public sealed record WorkerLeaving(Guid Job, IActorRef Worker) : IDnnMessage;

/// <summary>Coordinator → worker: the worker's data does not match the coordinator's; it must stop.</summary>
public sealed record RegistrationRejected(Guid Job, string Reason) : IDnnMessage;

/// <summary>Coordinator → worker: the job is over (finished or stopped); the worker may exit.</summary>
public sealed record JobDone(Guid Job, string Outcome) : IDnnMessage;
