using DistributedNN.Model;
using DistributedNN.Training;

namespace DistributedNN.Coordinator.Cli;

/// <summary>
/// What a run reports as it goes: the view (a live progress bar or a line per epoch), every applied step kept for
/// steps.csv, and per epoch a log event and the training-health warnings. Steps may come from any thread.
/// </summary>
internal sealed class RunProgress
{
    private readonly TrainingView _view;
    private readonly TrainingHealth _health;
    private readonly int _epochs;

    /// <summary>Logs the run's start.</summary>
    public RunProgress(TrainRequest r, TrainStart start, string runDir, TextWriter stdout)
    {
        var (spec, settings) = (start.Spec, start.Settings);
        _epochs = settings.Epochs;
        _view = TrainingView.For(r.Progress, stdout, _epochs, spec);
        // this run's own events carry its folder (several runs may share a process and its log files: tests, --compare-activations)
        Log = Serilog.Log.ForContext("RunFolder", runDir);
        Log.Information("Training {Network} on {Data} ({Mode}): {Optimizer} lr {LearningRate}, batch {Batch} in {Shards} shards, {Epochs} epochs, seed {Seed}; run folder {RunFolder}",
            spec.Describe(), start.Loaded.Data.Source, r.Mode, OptimizerSettings.Name(settings.Optimizer.Kind), settings.Optimizer.LearningRate, settings.BatchSize, settings.Shards, _epochs, settings.Seed, runDir);
        _health = new TrainingHealth(spec);
    }

    /// <summary>The run's log, its events tagged with the run folder.</summary>
    public Serilog.ILogger Log { get; }

    /// <summary>Every applied step, for steps.csv.</summary>
    public StepLog Steps { get; } = new();

    /// <summary>The health warnings so far.</summary>
    public IReadOnlyList<HealthWarning> Warnings => _health.Warnings;

    /// <summary>Runs the training inside the view.</summary>
    public T Run<T>(Func<T> train) => _view.Run(train);

    public void Step(TrainingState state, int workers)
    {
        Steps.Add(state);
        _view.Step(state, workers);
    }

    public void Epoch(EpochResult e)
    {
        _view.Epoch(e);
        if (e.ValidationLoss is { } loss)
            Log.Information("Epoch {Epoch}/{Epochs}: loss {Loss:F4}, train accuracy {TrainAccuracy:P2}, validation loss {ValidationLoss:F4}, validation accuracy {ValidationAccuracy:P2}, test loss {TestLoss:F4}, test accuracy {TestAccuracy:P2}, {SamplesPerSecond:F0} samples/s; gradient norms {GradientNorms}, update ratios {UpdateRatios}, dead/saturated {Health}",
                e.Epoch, _epochs, e.TrainLoss, e.TrainAccuracy, loss, e.ValidationAccuracy, e.TestLoss, e.TestAccuracy, e.SamplesPerSecond, e.GradientNorms, e.UpdateRatios, e.Health);
        else
            Log.Information("Epoch {Epoch}/{Epochs}: loss {Loss:F4}, train accuracy {TrainAccuracy:P2}, test loss {TestLoss:F4}, test accuracy {TestAccuracy:P2}, {SamplesPerSecond:F0} samples/s; gradient norms {GradientNorms}, update ratios {UpdateRatios}, dead/saturated {Health}",
                e.Epoch, _epochs, e.TrainLoss, e.TrainAccuracy, e.TestLoss, e.TestAccuracy, e.SamplesPerSecond, e.GradientNorms, e.UpdateRatios, e.Health);
        foreach (var w in _health.Check(e))
            Log.ForContext("HealthKind", w.Kind).ForContext("Layer", w.Layer).Warning("Training health: {Problem}", w.Message);
    }
}
