using DistributedNN.Security;

namespace DistributedNN.Transport;

/// <summary>
/// What both ends of a job's link know of the job: its id, the flat parameter vector's length, the network's layer
/// count (a result's activity counts), the shard count (the shm gradient file's regions), and how tensors travel.
/// <paramref name="StallTimeout"/>: on the coordinator, the step timeout — a tcp link whose frame stops moving for that
/// long is dropped (<see cref="TensorChannelOptions.StallTimeout"/>); null keeps the channel's default.
/// </summary>
public sealed record LinkSettings(Guid Job, int ParameterCount, int Layers, int Shards, WireFormat Gradients = WireFormat.Fp32,
    WireFormat Weights = WireFormat.Fp32, ClusterTls? Tls = null, TimeSpan? StallTimeout = null);
