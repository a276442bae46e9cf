using System.Diagnostics;
using System.Security.Cryptography;
using DistributedNN.Model;

namespace DistributedNN.Training;

/// <summary>
/// Everything a training run is, apart from who computes its gradients: the parameters, the
/// optimizer and its state, the data plan and where the run is in it, and the running metrics of
/// the current epoch. The single-process trainer and the cluster coordinator both drive one, so
/// they apply the very same update to the very same gradient.
/// </summary>
public sealed class TrainingState
{
    private readonly double[] _norms, _normSums;
    private readonly double[] _ratios, _ratioSums;   // ‖Δθ_l‖ / ‖θ_l‖ per layer
    private readonly double[] _health, _healthSums;  // dead ReLU / saturated sigmoid-tanh fraction per layer (ActivationHealth)
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
        Plan = new DataPlan(trainCount, settings.BatchSize, settings.Shards, settings.Seed, settings.Shuffle);
        Optimizer = new Optimizer(settings.Optimizer.Resolve(spec, Plan.StepsPerEpoch, settings.Epochs), spec.ParameterCount);
        EarlyStopping = settings.EarlyStoppingPatience > 0 ? new EarlyStopping(settings.EarlyStoppingPatience, spec.ParameterCount) : null;
        _norms = new double[spec.Layers.Count];
        _normSums = new double[spec.Layers.Count];
        _ratios = new double[spec.Layers.Count];
        _ratioSums = new double[spec.Layers.Count];
        _health = new double[spec.Layers.Count];
        _healthSums = new double[spec.Layers.Count];
    }

    public NetworkSpec Spec { get; }
    public TrainingSettings Settings { get; }
    public float[] Parameters { get; }
    public Optimizer Optimizer { get; }
    public DataPlan Plan { get; }
    /// <summary>The validation loss watched after every epoch (null: the run trains every epoch).</summary>
    public EarlyStopping? EarlyStopping { get; }
    /// <summary>0-based epoch of the next step.</summary>
    public int Epoch { get; private set; }
    /// <summary>0-based step within <see cref="Epoch"/> of the next step.</summary>
    public int StepInEpoch { get; private set; }
    /// <summary>Steps applied so far (the global step number of the next step).</summary>
    public long Steps { get; private set; }
    /// <summary>Weight version: bumped by every update.</summary>
    public long Version => Steps;
    /// <summary>Every epoch trained, or stopped early (<see cref="EarlyStopping"/>).</summary>
    public bool Finished => Epoch >= Settings.Epochs || EarlyStopping is { Stopped: true };
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
    /// <paramref name="activity"/> holds per layer the step's <see cref="ActivationHealth"/> counts (summed over
    /// its shards); empty when unknown.
    /// </summary>
    public bool ApplyStep(ReadOnlySpan<float> gradientSum, BatchStats stats, ReadOnlySpan<int> activity = default)
    {
        if (activity.Length != 0 && activity.Length != _health.Length) throw new ArgumentException("one activity count per layer");
        if (!double.IsFinite(stats.LossSum))
            throw new TrainingDivergedException($"training diverged at epoch {Epoch + 1}, step {StepInEpoch + 1}: the loss is {stats.LossSum} (learning rate too high?)");
        float scale = 1f / stats.Count;
        GradientNorms.Compute(Spec, gradientSum, scale, _norms);
        Optimizer.Step(Parameters, gradientSum, scale * ClipFactor(), Spec, _ratios, averageScale: scale);
        for (int l = 0; l < _norms.Length; l++)
        {
            var layer = Spec.Layers[l];
            _health[l] = activity.IsEmpty ? 0 : ActivationHealth.Fraction(layer.Activation, activity[l], layer.Outputs, stats.Count, Settings.Shards);
            _normSums[l] += _norms[l];
            _ratioSums[l] += _ratios[l];
            _healthSums[l] += _health[l];
        }
        _epochStats += stats;
        LastStep = stats;
        _clockedSamples += stats.Count;
        Steps++;
        StepInEpoch++;
        if (StepInEpoch < Plan.StepsPerEpoch) return false;
        _epochClock.Stop();
        return true;
    }

    /// <summary>torch's clip_grad_norm_: max_norm / (‖g‖ + 10⁻⁶) when the step's global norm (the layers' norms, the
    /// pre-clip figures the step reports) exceeds it, else 1.</summary>
    private float ClipFactor()
    {
        if (Settings.ClipNorm <= 0) return 1f;
        double squares = 0;
        foreach (double n in _norms) squares += n * n;
        double coefficient = Settings.ClipNorm / (System.Math.Sqrt(squares) + 1e-6);
        return coefficient < 1 ? (float)coefficient : 1f;
    }

    /// <summary>
    /// Closes the epoch with its test-set result and, when the run holds out a validation set, that set's (measured on
    /// the weights as they stand); moves to the next. With early stopping, the epoch is weighed against the best so far,
    /// and a run that ends here — stopped, or at its last epoch — ends with the best epoch's weights in <see cref="Parameters"/>.
    /// </summary>
    public EpochResult FinishEpoch(BatchStats test, BatchStats? validation = null)
    {
        if ((Settings.ValidationFraction > 0) != validation.HasValue)
            throw new ArgumentException(validation.HasValue ? "a validation result for a run without a validation set" : "the run holds out a validation set: measure it at every epoch's end");
        double seconds = _epochClock.Elapsed.TotalSeconds;
        var s = _epochStats;
        var v = validation.GetValueOrDefault();
        var result = new EpochResult(
            Epoch + 1, Steps, s.LossSum / s.Count, (double)s.Correct / s.Count,
            test.LossSum / System.Math.Max(1, test.Count), (double)test.Correct / System.Math.Max(1, test.Count),
            seconds, _clockedSamples / seconds, _normSums.Select(n => n / Plan.StepsPerEpoch).ToArray(),
            _ratioSums.Select(n => n / Plan.StepsPerEpoch).ToArray(), _healthSums.Select(n => n / Plan.StepsPerEpoch).ToArray(),
            validation.HasValue ? v.LossSum / System.Math.Max(1, v.Count) : null, validation.HasValue ? (double)v.Correct / System.Math.Max(1, v.Count) : null);
        EarlyStopping?.Observe(result.Epoch, result.ValidationLoss!.Value, Parameters);
        Epoch++;
        StepInEpoch = 0;
        _epochStats = default;
        _clockedSamples = 0;
        Array.Clear(_normSums);
        Array.Clear(_ratioSums);
        Array.Clear(_healthSums);
        _epochClock.Reset();
        if (Finished) EarlyStopping?.RestoreBest(Parameters);
        return result;
    }

    /// <summary>Loss sum, correct count and samples of the last applied step.</summary>
    public BatchStats LastStep { get; private set; }

    /// <summary>Per-layer gradient norms (of the batch-mean gradient) of the last applied step.</summary>
    public ReadOnlySpan<double> LastNorms => _norms;

    /// <summary>Per-layer update-to-weight ratios ‖Δθ_l‖ / ‖θ_l‖ of the last applied step.</summary>
    public ReadOnlySpan<double> LastUpdateRatios => _ratios;

    /// <summary>
    /// Per layer, the last applied step's fraction of dead ReLU units (per shard) or saturated sigmoid/tanh outputs
    /// (<see cref="ActivationHealth.Signal"/> of the layer's activation); 0 for layers without a signal.
    /// </summary>
    public ReadOnlySpan<double> LastHealth => _health;

    /// <summary>Loss sum, correct count and samples of the current epoch's steps so far.</summary>
    public BatchStats EpochStats => _epochStats;

    /// <summary>Where the run is, for a checkpoint: everything but the parameters and the optimizer's buffers.</summary>
    public TrainingProgress Progress => new(Epoch, StepInEpoch, Steps, Optimizer.Steps, _epochStats, (double[])_normSums.Clone(),
        (double[])_ratioSums.Clone(), (double[])_healthSums.Clone(), EarlyStopping?.Progress);

    /// <summary>
    /// Puts the run back where a checkpoint left it (parameters and optimizer buffers are restored by the caller), with
    /// <paramref name="bestParameters"/>, the best epoch's weights, for a run with early stopping.
    /// </summary>
    public void Restore(TrainingProgress p, float[]? bestParameters = null)
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
        Restore(p.RatioSums, _ratioSums);
        Restore(p.HealthSums, _healthSums);
        EarlyStopping?.Restore(p.EarlyStopping, bestParameters);
    }

    private static void Restore(double[]? saved, double[] sums)
    {
        if (saved is null) Array.Clear(sums);
        else if (saved.Length != sums.Length) throw new ArgumentException("the checkpoint's layer count differs");
        else saved.CopyTo(sums, 0);
    }

    /// <summary>SHA-256 of the parameter vector's bytes: equal hashes, bit-identical weights.</summary>
    public string WeightsSha256() => HashWeights(Parameters);

    public static string HashWeights(ReadOnlySpan<float> parameters) =>
        Convert.ToHexStringLower(SHA256.HashData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(parameters)));
}
