using DistributedNN.Training;

namespace DistributedNN.Coordinator.Cli;

/// <summary>How a run was carried out: mode, workers, tensor payload bytes, and the final weights' hash.</summary>
/// <param name="Health">the training-health warnings of the run (<see cref="TrainingHealth"/>)</param>
/// <param name="WorkerStats">per epoch and worker, shards and compute time (distributed runs)</param>
/// <param name="Security">how a cluster run was protected: tls, run-secret or insecure (null: one process)</param>
/// <param name="Verification">what --verify-fraction checked and caught (null: no verification)</param>
/// <param name="EarlyStopping">where early stopping ended: the best epoch, whose weights the run kept (null: no early stopping)</param>
internal sealed record RunFacts(string Mode, int Workers, long BytesSent, long BytesReceived, string WeightsSha256, string GradientFormat = "fp32", string WeightFormat = "fp32",
    IReadOnlyList<HealthWarning>? Health = null, IReadOnlyList<WorkerEpochStats>? WorkerStats = null, string? Security = null, VerificationCounts? Verification = null,
    EarlyStoppingProgress? EarlyStopping = null)
{
    /// <summary>The epoch whose weights the run ends with: early stopping's best, else the last.</summary>
    public EpochResult KeptEpoch(IReadOnlyList<EpochResult> epochs) =>
        EarlyStopping is { BestEpoch: > 0 } stopping ? epochs.First(e => e.Epoch == stopping.BestEpoch) : epochs[^1];
}
