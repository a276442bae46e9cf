using DistributedNN.Model;
using DistributedNN.Training;

namespace DistributedNN.Serialization;

/// <summary>Everything needed to continue a run exactly: what it is, where it is, and its state.</summary>
/// <param name="BestParameters">with early stopping, the best validation epoch's weights (<see cref="EarlyStopping"/>); else null</param>
public sealed record Checkpoint(
    NetworkDescription Network, TrainingSettings Settings, string DataFingerprint, TrainingProgress Progress,
    float[] Parameters, float[] Velocity, float[] SecondMoment, IReadOnlyList<EpochResult> Epochs, float[]? BestParameters = null);
