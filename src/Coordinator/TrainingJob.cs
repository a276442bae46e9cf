using Akka.Event;
using DistributedNN.Data;
using DistributedNN.Model;
using DistributedNN.Planning;
using DistributedNN.Protocol;
using DistributedNN.Serialization;
using DistributedNN.Training;
using DistributedNN.Transport;

namespace DistributedNN.Coordinator;

/// <summary>
/// One distributed run as the coordinator holds it — all its training state (a <see cref="TrainingState"/>), the data
/// the workers must load, the epochs so far, checkpoints, per-worker statistics — and its rounds: a step's shards become
/// a <see cref="StepAggregator"/> whose sum the optimizer applies, an epoch's end an <see cref="EvaluationRound"/>.
/// No actors here: the coordinator actor drives it.
/// </summary>
public sealed class TrainingJob
{
    private readonly float[] _gradient;
    private readonly int[] _activity, _layerWidths, _bounds;
    private readonly List<EpochResult> _epochs = new();
    private readonly WorkerStatsTracker _workerStats = new();
    private readonly Dataset? _validation;
    private readonly Backprop? _validationPass;

    /// <param name="previous">the epochs a resumed run already did</param>
    /// <param name="verification">--verify-fraction's checks (null: the workers' results are trusted)</param>
    /// <param name="validation">the samples held out of the training set, measured here after every epoch (null: none)</param>
    public TrainingJob(Guid id, TrainingState state, DataRequest data, string dataFingerprint, int testCount, Checkpointer? checkpoints = null,
        IReadOnlyList<EpochResult>? previous = null, ShardVerification? verification = null, Dataset? validation = null)
    {
        if (validation is not null) LocalTrainer.CheckData(state.Spec, validation);
        (_validation, _validationPass) = (validation, validation is null ? null : new Backprop(state.Spec, LocalTrainer.EvaluationChunk));
        (Id, State, Data, DataFingerprint, TestCount, Checkpoints, Verification) = (id, state, data, dataFingerprint, testCount, checkpoints, verification);
        Pool = new GradientBufferPool(state.Spec.ParameterCount, capacity: 2 * state.Settings.Shards); // a step holds one per shard
        _gradient = GC.AllocateUninitializedArray<float>(state.Spec.ParameterCount, pinned: true);
        _layerWidths = state.Spec.Layers.Select(l => l.Outputs).ToArray();
        _activity = new int[_layerWidths.Length];
        _bounds = new int[state.Settings.Shards + 1];
        _epochs.AddRange(previous ?? []);
    }

    public Guid Id { get; }
    public TrainingState State { get; }
    public DataRequest Data { get; }
    public string DataFingerprint { get; }
    public int TestCount { get; }
    public Checkpointer? Checkpoints { get; }
    public GradientBufferPool Pool { get; }
    public ShardVerification? Verification { get; }
    public IReadOnlyList<EpochResult> Epochs => _epochs;

    /// <summary>What both ends of a link must agree on; a link whose frame stops moving for <paramref name="stepTimeout"/> is dropped.</summary>
    public LinkSettings Link(WireSettings wire, TimeSpan? stepTimeout = null) => new(Id, State.Spec.ParameterCount, _layerWidths.Length,
        State.Settings.Shards, wire.Gradients, wire.Weights, wire.Tls, stepTimeout);

    /// <summary>The sharded topology's layouts when the gradients are summed by slice owners on the workers; null for the star.</summary>
    public ReduceTopology? Reduction(WireSettings wire) => wire.Topology == Topology.Sharded ? new ReduceTopology(State, Id) : null;

    /// <summary>The job as a worker must prepare for it, with its end of the link's files (shm).</summary>
    public StartJob StartJob(WireSettings wire, SharedFiles? files) => new(Id, State.Spec.ToDescription(), Data, State.Settings.BatchSize,
        State.Settings.Shards, State.Settings.Seed, State.Settings.Shuffle, LocalTrainer.EvaluationChunk, wire.Transport, wire.Gradients, wire.Weights, files,
        State.Settings.Augmentation.Pad, State.Settings.Augmentation.Flip, State.Settings.LabelSmoothing);

    /// <summary>Why a worker whose data has <paramref name="fingerprint"/> cannot take part, or null.</summary>
    public string? Refusal(WorkerReady ready) => ProtocolLimits.Refusal(ready)
        ?? (ready.DataFingerprint == DataFingerprint ? null : CoordinatorErrors.DataDiffers(ready.DataFingerprint, DataFingerprint));

    /// <summary>The next step's round: its shards, cut from the step's global batch, and those to verify.</summary>
    public StepAggregator BeginStep()
    {
        State.BeginStep();
        State.Plan.ShardBounds(State.CurrentBatch.Length, _bounds);
        var verified = Verification?.Plan.Select(State.Steps, _bounds.Length - 1);
        return new StepAggregator(Id, State.Steps, State.Version, State.Epoch, State.StepInEpoch, _bounds, Pool, _layerWidths, verified, _gradient);
    }

    /// <summary>
    /// Applies a complete step: its gradients summed in shard order, the optimizer's update, the step hook, a checkpoint when
    /// one is due mid-epoch; true when the step ended an epoch (evaluate next). Throws <see cref="TrainingDivergedException"/>
    /// for a loss that is not finite.
    /// </summary>
    public bool ApplyStep(StepAggregator step, JobHooks hooks, int workers, ILoggingAdapter log)
    {
        var stats = step.Sum(_gradient);
        step.SumActivity(_activity);
        foreach (var (worker, ms) in step.ShardTimes()) _workerStats.Add(worker, ms);
        Verification?.Applied(step);
        step.Release();
        bool epochEnded = State.ApplyStep(_gradient, stats, _activity);
        hooks.OnStep?.Invoke(State, workers);
        if (!epochEnded) Report(log, null, CheckpointIfDue(epochEnded: false));
        return epochEnded;
    }

    /// <summary>The evaluation of the weights as they stand, on the test set.</summary>
    public EvaluationRound BeginEvaluation() => new(Id, State.Steps, State.Version, TestCount);

    /// <summary>
    /// Closes the epoch with its evaluation, and the validation set's measured here on the whole weights the coordinator holds
    /// (the chunks of <see cref="LocalTrainer.Evaluate(Backprop, ReadOnlySpan{float}, Dataset)"/>, as one process measures it: the
    /// same figures, so the same early stop); logs each worker's share of the epoch, tells the epoch hook, checkpoints.
    /// </summary>
    public EpochResult FinishEpoch(EvaluationRound evaluation, JobHooks hooks, ILoggingAdapter log)
    {
        var validation = _validation is null ? (BatchStats?)null : LocalTrainer.Evaluate(_validationPass!, State.Parameters, _validation);
        var result = State.FinishEpoch(evaluation.Total(), validation);
        _epochs.Add(result);
        WorkerStatsTracker.Log(log, _workerStats.EndEpoch(result.Epoch));
        hooks.OnEpoch?.Invoke(result);
        Report(log, null, CheckpointIfDue(epochEnded: true));
        return result;
    }

    /// <summary>A run that stops keeps everything up to its last applied step: a checkpoint now, logged.</summary>
    public void CheckpointOnStop(ILoggingAdapter log)
    {
        var (path, error) = CheckpointNow();
        Report(log, path, error);
    }

    private static void Report(ILoggingAdapter log, string? checkpoint, string? error)
    {
        if (checkpoint is not null) log.Warning("Saved checkpoint {Path}", checkpoint);
        if (error is not null) log.Error("Cannot write a checkpoint: {Reason}", error);
    }

    /// <summary>A checkpoint when one is due; the reason it could not be written, or null.</summary>
    public string? CheckpointIfDue(bool epochEnded)
    {
        if (Checkpoints is null) return null;
        try { Checkpoints.AfterStep(State, _epochs, epochEnded); }
        catch (UserErrorException e) { return e.Message; }
        return null;
    }

    /// <summary>A checkpoint of everything up to the last applied step (a run that stops keeps its progress): its path, or why not.</summary>
    public (string? Path, string? Error) CheckpointNow()
    {
        if (Checkpoints is null || State.Steps == 0) return (null, null);
        try { return (Checkpoints.Save(State, _epochs), null); }
        catch (UserErrorException e) { return (null, e.Message); }
    }

    public TrainingOutcome Outcome(int maxWorkers, long bytesSent, long bytesReceived) =>
        new(_epochs, State.Steps, State.WeightsSha256(), maxWorkers, bytesSent, bytesReceived, _workerStats.All, Verification?.Counts);
}
