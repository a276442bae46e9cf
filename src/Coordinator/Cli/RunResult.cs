using DistributedNN.Training;

namespace DistributedNN.Coordinator.Cli;

/// <summary>What a run's training gave, in one process or on the cluster: its epochs, the steps applied, and how it was carried out.</summary>
internal sealed record RunResult(IReadOnlyList<EpochResult> Epochs, long Steps, RunFacts Facts);
