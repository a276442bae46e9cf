using DistributedNN.Training;

namespace DistributedNN.Coordinator.Cli;

/// <summary>How a run was carried out: mode, workers, tensor payload bytes, and the final weights' hash.</summary>
/// <param name="Health">the training-health warnings of the run (<see cref="TrainingHealth"/>)</param>
/// <param name="WorkerStats">per epoch and worker, shards and compute time (distributed runs)</param>
/// <param name="Security">how a cluster run was protected: tls, run-secret or insecure (null: one process)</param>
/// <param name="Verification">what --verify-fraction checked and caught (null: no verification)</param>
internal sealed record RunFacts(string Mode, int Workers, long BytesSent, long BytesReceived, string WeightsSha256, string GradientFormat = "fp32", string WeightFormat = "fp32",
    IReadOnlyList<HealthWarning>? Health = null, IReadOnlyList<WorkerEpochStats>? WorkerStats = null, string? Security = null, VerificationCounts? Verification = null);
