using System.Diagnostics;
using System.Security.Cryptography;
using DistributedNN.Model;

namespace DistributedNN.Training;

/// <summary>A run's position and the running sums of its current epoch.</summary>
public sealed record TrainingProgress(int Epoch, int StepInEpoch, long Steps, long OptimizerSteps, BatchStats EpochStats, double[] NormSums);

/// <summary>
/// Everything a training run is, apart from who computes its gradients: the parameters, the
/// optimizer and its state, the data plan and where the run is in it, and the running metrics of
/// the current epoch. The single-process trainer and the cluster coordinator both drive one, so
/// they apply the very same update to the very same gradient.
/// </summary>
public sealed class TrainingState
{
    private readonly double[] _norms, _normSums;
    private BatchStats _epochStats;
    private long _clockedSamples; // samples trained while the epoch clock ran (a resumed epoch's earlier part was not)
    private readonly Stopwatch _epochClock = new();

    public TrainingState(NetworkSpec spec, float[] parameters, TrainingSettings settings, int trainCount)
    {
        settings.Validate();
        if (parameters.Length != spec.ParameterCount) throw new ArgumentException("parameters do not match the network");
        Spec = spec;
        Settings = settings;
        Parameters = parameters;
        Optimizer = new Optimizer(settings.Optimizer, spec.ParameterCount);
        Plan = new DataPlan(trainCount, settings.BatchSize, settings.Shards, settings.Seed, settings.Shuffle);
        _norms = new double[spec.Layers.Count];
        _normSums = new double[spec.Layers.Count];
    }

    public NetworkSpec Spec { get; }
    public TrainingSettings Settings { get; }
    public float[] Parameters { get; }
    public Optimizer Optimizer { get; }
    public DataPlan Plan { get; }
    /// <summary>0-based epoch of the next step.</summary>
    public int Epoch { get; private set; }
    /// <summary>0-based step within <see cref="Epoch"/> of the next step.</summary>
    public int StepInEpoch { get; private set; }
    /// <summary>Steps applied so far (the global step number of the next step).</summary>
    public long Steps { get; private set; }
    /// <summary>Weight version: bumped by every update.</summary>
    public long Version => Steps;
    public bool Finished => Epoch >= Settings.Epochs;
    public bool AtEpochStart => StepInEpoch == 0;

    /// <summary>The sample indices of the next step.</summary>
    public ReadOnlySpan<int> CurrentBatch => Plan.Batch(Epoch, StepInEpoch);

    /// <summary>Starts the clock of the epoch's training time (evaluation is not counted).</summary>
    public void BeginStep()
    {
        if (Finished) throw new InvalidOperationException("the run is finished");
        if (!_epochClock.IsRunning) _epochClock.Start();
    }

    /// <summary>
    /// Applies one step's gradient (the sum over the batch, shards added in shard order) and its
    /// loss/accuracy; returns true when this step ended an epoch (evaluate, then <see cref="FinishEpoch"/>).
    /// </summary>
    public bool ApplyStep(ReadOnlySpan<float> gradientSum, BatchStats stats)
    {
        if (!double.IsFinite(stats.LossSum))
            throw new TrainingDivergedException($"training diverged at epoch {Epoch + 1}, step {StepInEpoch + 1}: the loss is {stats.LossSum} (learning rate too high?)");
        float scale = 1f / stats.Count;
        GradientNorms.Compute(Spec, gradientSum, scale, _norms);
        for (int l = 0; l < _norms.Length; l++) _normSums[l] += _norms[l];
        Optimizer.Step(Parameters, gradientSum, scale);
        _epochStats += stats;
        LastStep = stats;
        _clockedSamples += stats.Count;
        Steps++;
        StepInEpoch++;
        if (StepInEpoch < Plan.StepsPerEpoch) return false;
        _epochClock.Stop();
        return true;
    }

    /// <summary>Closes the epoch with its test-set result and moves to the next.</summary>
    public EpochResult FinishEpoch(BatchStats test)
    {
        double seconds = _epochClock.Elapsed.TotalSeconds;
        var s = _epochStats;
        var result = new EpochResult(
            Epoch + 1, Steps, s.LossSum / s.Count, (double)s.Correct / s.Count,
            test.LossSum / System.Math.Max(1, test.Count), (double)test.Correct / System.Math.Max(1, test.Count),
            seconds, _clockedSamples / seconds, _normSums.Select(n => n / Plan.StepsPerEpoch).ToArray());
        Epoch++;
        StepInEpoch = 0;
        _epochStats = default;
        _clockedSamples = 0;
        Array.Clear(_normSums);
        _epochClock.Reset();
        return result;
    }

    /// <summary>Where the run is, for a checkpoint: everything but the parameters and the optimizer's buffers.</summary>
    /// <summary>Loss sum, correct count and samples of the last applied step.</summary>
    public BatchStats LastStep { get; private set; }

    /// <summary>Per-layer gradient norms (of the batch-mean gradient) of the last applied step.</summary>
    public ReadOnlySpan<double> LastNorms => _norms;

    /// <summary>Loss sum, correct count and samples of the current epoch's steps so far.</summary>
    public BatchStats EpochStats => _epochStats;

    public TrainingProgress Progress => new(Epoch, StepInEpoch, Steps, Optimizer.Steps, _epochStats, (double[])_normSums.Clone());

    /// <summary>Puts the run back where a checkpoint left it (parameters and optimizer buffers are restored by the caller).</summary>
    public void Restore(TrainingProgress p)
    {
        if (p.NormSums.Length != _normSums.Length) throw new ArgumentException("the checkpoint's layer count differs");
        if (p.Epoch < 0 || p.StepInEpoch < 0 || p.StepInEpoch >= Plan.StepsPerEpoch || p.Steps < 0)
            throw new ArgumentException($"the checkpoint's position (epoch {p.Epoch}, step {p.StepInEpoch}) does not fit this run");
        Epoch = p.Epoch;
        StepInEpoch = p.StepInEpoch;
        Steps = p.Steps;
        Optimizer.Steps = p.OptimizerSteps;
        _epochStats = p.EpochStats;
        p.NormSums.CopyTo(_normSums, 0);
    }

    /// <summary>SHA-256 of the parameter vector's bytes: equal hashes, bit-identical weights.</summary>
    public string WeightsSha256() => HashWeights(Parameters);

    public static string HashWeights(ReadOnlySpan<float> parameters) =>
        Convert.ToHexStringLower(SHA256.HashData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(parameters)));
}
