using DistributedNN.Training;

namespace DistributedNN.Coordinator;

/// <summary>How a distributed run ended.</summary>
/// <param name="Verification">what --verify-fraction checked and caught (null: no verification)</param>
public sealed record TrainingOutcome(IReadOnlyList<EpochResult> Epochs, long Steps, string WeightsSha256, int Workers, long TensorBytesSent, long TensorBytesReceived,
    IReadOnlyList<WorkerEpochStats>? WorkerStats = null, VerificationCounts? Verification = null);
