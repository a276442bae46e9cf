using System.Diagnostics;
using DistributedNN.Data;
using DistributedNN.Model;

namespace DistributedNN.Training;

/// <summary>Settings of a training run (the parts that define its mathematics).</summary>
public sealed record TrainingSettings(int Epochs, int BatchSize, int Shards, ulong Seed, bool Shuffle, OptimizerSettings Optimizer)
{
    public void Validate()
    {
        if (Epochs <= 0) throw new UserErrorException($"--epochs must be at least 1 (got {Epochs})");
        if (BatchSize <= 0) throw new UserErrorException($"--batch must be at least 1 (got {BatchSize})");
        if (Shards <= 0) throw new UserErrorException($"--shards must be at least 1 (got {Shards})");
        if (Shards > BatchSize) throw new UserErrorException($"--shards ({Shards}) cannot exceed --batch ({BatchSize})");
        Optimizer.Validate();
    }
}

/// <summary>What one epoch did. Train loss/accuracy are over the epoch's batches as they were trained.</summary>
public sealed record EpochResult(
    int Epoch, long Steps, double TrainLoss, double TrainAccuracy, double TestLoss, double TestAccuracy,
    double TrainSeconds, double SamplesPerSecond, double[] GradientNorms);

/// <summary>
/// Single-process training: the same data plan, shards and shard-ordered gradient sum as the
/// cluster, computed by one <see cref="Backprop"/>, then one optimizer step per global batch.
/// </summary>
public sealed class LocalTrainer
{
    private readonly NetworkSpec _spec;
    private readonly TrainingSettings _settings;
    private readonly Backprop _backprop;
    private readonly Optimizer _optimizer;
    private readonly float[] _gradient;
    private readonly float[] _input;
    private readonly int[] _labels;
    private readonly int[] _bounds;
    private readonly double[] _norms, _normSums;

    public LocalTrainer(NetworkSpec spec, float[] parameters, TrainingSettings settings)
    {
        settings.Validate();
        if (parameters.Length != spec.ParameterCount) throw new ArgumentException("parameters do not match the network");
        _spec = spec;
        _settings = settings;
        Parameters = parameters;
        _backprop = new Backprop(spec, System.Math.Max(settings.BatchSize, 256));
        _optimizer = new Optimizer(settings.Optimizer, spec.ParameterCount);
        _gradient = new float[spec.ParameterCount];
        _input = GC.AllocateArray<float>(settings.BatchSize * spec.InputSize, pinned: true);
        _labels = new int[settings.BatchSize];
        _bounds = new int[settings.Shards + 1];
        _norms = new double[spec.Layers.Count];
        _normSums = new double[spec.Layers.Count];
    }

    public float[] Parameters { get; }
    public Optimizer Optimizer => _optimizer;
    public long Steps { get; private set; }

    /// <summary>Trains for the configured epochs, calling <paramref name="onEpoch"/> after each.</summary>
    public IReadOnlyList<EpochResult> Train(Dataset train, Dataset test, Action<EpochResult>? onEpoch = null)
    {
        CheckData(train);
        CheckData(test);
        var plan = new DataPlan(train.Count, _settings.BatchSize, _settings.Shards, _settings.Seed, _settings.Shuffle);
        var results = new List<EpochResult>();
        for (int epoch = 0; epoch < _settings.Epochs; epoch++)
        {
            var result = RunEpoch(plan, epoch, train, test);
            results.Add(result);
            onEpoch?.Invoke(result);
        }
        return results;
    }

    private void CheckData(Dataset data)
    {
        if (data.FeatureCount != _spec.InputSize)
            throw new UserErrorException($"the network takes {_spec.InputSize} inputs but the data set '{data.Name}' has {data.FeatureCount} features per sample; make the first --layers size {data.FeatureCount}");
        bool fits = _spec.OutputSize == 1 ? data.ClassCount <= 2 : data.ClassCount <= _spec.OutputSize;
        if (!fits)
            throw new UserErrorException($"the data set '{data.Name}' has {data.ClassCount} classes but the network has only {_spec.OutputSize} outputs; make the last --layers size at least {data.ClassCount}");
    }

    private EpochResult RunEpoch(DataPlan plan, int epoch, Dataset train, Dataset test)
    {
        var total = new BatchStats(0, 0, 0);
        Array.Clear(_normSums);
        var clock = Stopwatch.StartNew();
        int features = _spec.InputSize;
        for (int step = 0; step < plan.StepsPerEpoch; step++)
        {
            var batch = plan.Batch(epoch, step);
            for (int r = 0; r < batch.Length; r++)
            {
                train.Sample(batch[r]).CopyTo(_input.AsSpan(r * features, features));
                _labels[r] = train.Labels[batch[r]];
            }
            plan.ShardBounds(batch.Length, _bounds);
            var stats = _backprop.Gradient(Parameters, _input, _labels, batch.Length, _bounds, _gradient);
            if (!double.IsFinite(stats.LossSum))
                throw new TrainingDivergedException($"training diverged at epoch {epoch + 1}, step {step + 1}: the loss is {stats.LossSum} (learning rate too high?)");
            float scale = 1f / batch.Length;
            GradientNorms.Compute(_spec, _gradient, scale, _norms);
            for (int l = 0; l < _norms.Length; l++) _normSums[l] += _norms[l];
            _optimizer.Step(Parameters, _gradient, scale);
            total += stats;
            Steps++;
        }
        double seconds = clock.Elapsed.TotalSeconds;
        var testStats = Evaluate(test);
        return new EpochResult(
            epoch + 1, Steps, total.LossSum / total.Count, (double)total.Correct / total.Count,
            testStats.LossSum / System.Math.Max(1, testStats.Count), (double)testStats.Correct / System.Math.Max(1, testStats.Count),
            seconds, train.Count / seconds, _normSums.Select(n => n / plan.StepsPerEpoch).ToArray());
    }

    /// <summary>Loss sum and correct count of the current parameters on <paramref name="data"/>.</summary>
    public BatchStats Evaluate(Dataset data) => Evaluate(_backprop, Parameters, data);

    public static BatchStats Evaluate(Backprop backprop, ReadOnlySpan<float> parameters, Dataset data)
    {
        var total = new BatchStats(0, 0, 0);
        int f = data.FeatureCount;
        for (int start = 0; start < data.Count; start += backprop.MaxRows)
        {
            int rows = System.Math.Min(backprop.MaxRows, data.Count - start);
            backprop.Forward(parameters, data.Features.AsSpan(start * f, rows * f), rows);
            total += backprop.Evaluate(data.Labels.AsSpan(start, rows), rows);
        }
        return total;
    }
}

/// <summary>The loss became NaN or infinite: training cannot go on with these settings.</summary>
public sealed class TrainingDivergedException(string message) : UserErrorException(message);
