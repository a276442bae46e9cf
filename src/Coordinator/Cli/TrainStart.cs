using DistributedNN.Data;
using DistributedNN.Model;
using DistributedNN.Training;

namespace DistributedNN.Coordinator.Cli;

/// <summary>Where a run starts: the network, the settings, the data, and the first weights (fresh, from --init, or a checkpoint's state).</summary>
/// <param name="Parameters">the weights the run trains in place</param>
/// <param name="ResumedState">the checkpoint's state (over <paramref name="Parameters"/>) when resuming</param>
/// <param name="PreviousEpochs">the checkpointed run's finished epochs when resuming</param>
internal sealed record TrainStart(NetworkSpec Spec, TrainingSettings Settings, DataRequest DataRequest, DataCache.Entry Loaded, float[] Parameters,
    TrainingState? ResumedState, IReadOnlyList<EpochResult>? PreviousEpochs);
