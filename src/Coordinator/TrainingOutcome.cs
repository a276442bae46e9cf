using DistributedNN.Training;

namespace DistributedNN.Coordinator;

/// <summary>How a distributed run ended.</summary>
public sealed record TrainingOutcome(IReadOnlyList<EpochResult> Epochs, long Steps, string WeightsSha256, int Workers, long TensorBytesSent, long TensorBytesReceived,
    IReadOnlyList<WorkerEpochStats>? WorkerStats = null);
