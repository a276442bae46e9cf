using Akka.Actor;
using DistributedNN.Data;
using DistributedNN.Model;

namespace DistributedNN.Protocol;

/// <summary>Every control-plane message that crosses the wire; one serializer binding (Hyperion) covers them all.</summary>
public interface IDnnMessage;



/// <summary>
/// Worker → coordinator: a worker offers itself, with its data-plane endpoint and the access token its data-plane
/// listener requires (<see cref="Transport.TensorHandshake"/>; 32 random bytes, null when it requires none).
/// </summary>
/// <paramref name="OrderFrames"/>: it takes orders as data-plane frames (<see cref="Transport.StepNotices"/>) and answers those in kind.
public sealed record RegisterWorker(IActorRef Worker, string DataPlaneHost, int DataPlanePort, int Cores, byte[]? AccessToken = null,
    bool OrderFrames = false) : IDnnMessage;

/// <summary>
/// Coordinator → worker: the job to prepare for. The worker loads the data, builds the network and
/// answers <see cref="WorkerReady"/> (with its fingerprint of the data) or <see cref="WorkerRefused"/>.
/// With the shm transport, <paramref name="SharedWeights"/> and <paramref name="SharedGradients"/> name the
/// coordinator's weights file and this worker's gradient file (<see cref="Transport.SharedTensorFile"/>), and
/// <paramref name="SharedMailbox"/> the file its orders and results pass through (<see cref="Transport.SharedMailbox"/>).
/// </summary>
public sealed record StartJob(
    Guid Job, NetworkDescription Network, DataRequest Data, int BatchSize, int Shards, ulong Seed, bool Shuffle,
    int EvaluationChunk, string Transport, string GradientFormat = Transport.GradientFormats.Fp32,
    string WeightFormat = Transport.GradientFormats.Fp32, string? SharedWeights = null, string? SharedGradients = null,
    string? SharedMailbox = null) : IDnnMessage;

public sealed record WorkerReady(Guid Job, IActorRef Worker, string DataFingerprint, int TrainCount, int TestCount) : IDnnMessage;

public sealed record WorkerRefused(Guid Job, IActorRef Worker, string Reason) : IDnnMessage;

/// <summary>
/// Worker → coordinator: this worker is stopping (SIGTERM, Ctrl+C) and takes no more shards; what it was computing goes
/// to the others now, not after its node's cluster leave has run its gossip rounds.
/// </summary>
public sealed record WorkerLeaving(Guid Job, IActorRef Worker) : IDnnMessage;

/// <summary>Coordinator → worker: the worker's data does not match the coordinator's; it must stop.</summary>
public sealed record RegistrationRejected(Guid Job, string Reason) : IDnnMessage;

/// <summary>
/// Coordinator → worker: compute the gradients of these shards of global step <paramref name="Step"/>
/// (epoch <paramref name="Epoch"/>, step <paramref name="StepInEpoch"/> of it) with the weights of
/// version <paramref name="Version"/>, which arrive (or arrived) on the data plane. The samples follow
/// from the data plan, a function of (seed, epoch, step) that the worker computes itself.
/// </summary>
public sealed record ComputeShards(Guid Job, long Step, long Version, int Epoch, int StepInEpoch, int[] Shards) : IDnnMessage;

/// <summary>
/// Worker → coordinator: one shard is done. Its gradient (the SUM over the shard's samples, in the
/// flat layout) travels on the data plane tagged with the same job, step, version and shard.
/// <paramref name="Activity"/>: per layer, the shard's dead ReLU units or saturated sigmoid/tanh outputs
/// (<see cref="Model.ActivationHealth"/>).
/// </summary>
public sealed record ShardResult(
    Guid Job, long Step, long Version, int Shard, IActorRef Worker,
    double LossSum, int Correct, int SampleCount, double ComputeMilliseconds, int GradientLength, int[]? Activity = null) : IDnnMessage;

/// <summary>Coordinator → worker: evaluate test-set chunks [c·chunk, (c+1)·chunk) with weights <paramref name="Version"/>.</summary>
public sealed record EvaluateChunks(Guid Job, long Version, int[] Chunks) : IDnnMessage;

public sealed record EvaluationResult(Guid Job, long Version, int Chunk, IActorRef Worker, double LossSum, int Correct, int SampleCount) : IDnnMessage;

/// <summary>Coordinator → worker: the job is over (finished or stopped); the worker may exit.</summary>
public sealed record JobDone(Guid Job, string Outcome) : IDnnMessage;
