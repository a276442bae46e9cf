using DistributedNN.Model;

namespace DistributedNN.Training;

/// <summary>A run's position and the running sums of its current epoch.</summary>
/// <remarks><paramref name="RatioSums"/> and <paramref name="HealthSums"/> are absent in checkpoints written before they existed (read as zeros).</remarks>
/// <param name="EarlyStopping">where early stopping stands (null: the run has none)</param>
public sealed record TrainingProgress(int Epoch, int StepInEpoch, long Steps, long OptimizerSteps, BatchStats EpochStats, double[] NormSums,
    double[]? RatioSums = null, double[]? HealthSums = null, EarlyStoppingProgress? EarlyStopping = null);
