using DistributedNN.Model;
using DistributedNN.Training;

namespace DistributedNN.Serialization;

/// <summary>Everything needed to continue a run exactly: what it is, where it is, and its state.</summary>
public sealed record Checkpoint(
    NetworkDescription Network, TrainingSettings Settings, string DataFingerprint, TrainingProgress Progress,
    float[] Parameters, float[] Velocity, float[] SecondMoment, IReadOnlyList<EpochResult> Epochs);
