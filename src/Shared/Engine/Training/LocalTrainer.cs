using DistributedNN.Data;
using DistributedNN.Model;

namespace DistributedNN.Training;

/// <summary>
/// Single-process training: the same data plan, shards and shard-ordered gradient sum as the
/// cluster, computed by one <see cref="Backprop"/>, then one optimizer step per global batch.
/// </summary>
public sealed class LocalTrainer
{
    private readonly NetworkSpec _spec;
    private readonly Backprop _backprop;
    private readonly float[] _gradient;
    private readonly float[] _input;
    private readonly float[] _scratch;
    private readonly int[] _labels;
    private readonly int[] _bounds;
    private TrainingState? _state;
    private readonly TrainingSettings _settings;
    private readonly int _threads;

    /// <param name="threads">
    /// Threads for the matrix products (<see cref="Numerics.GemmTeam"/>): the whole batch is still one segmented
    /// backward pass, so any thread count gives the same bits — those of the cluster with the same shards.
    /// </param>
    public LocalTrainer(NetworkSpec spec, float[] parameters, TrainingSettings settings, int threads = 1)
    {
        settings.Validate();
        if (threads < 1) throw new UserErrorException($"--threads must be at least 1 (got {threads})");
        _threads = threads;
        if (parameters.Length != spec.ParameterCount) throw new ArgumentException("parameters do not match the network");
        _spec = spec;
        _settings = settings;
        Parameters = parameters;
        _backprop = new Backprop(spec, settings.BatchSize, settings.LabelSmoothing);
        _gradient = new float[spec.ParameterCount];
        _input = GC.AllocateArray<float>(settings.BatchSize * spec.InputSize, pinned: true);
        _scratch = new float[spec.InputSize];
        _labels = new int[settings.BatchSize];
        _bounds = new int[settings.Shards + 1];
    }

    public float[] Parameters { get; }
    public long Steps => _state?.Steps ?? 0;
    /// <summary>The run's state after <see cref="Train"/> (optimizer, step, weights hash).</summary>
    public TrainingState? State => _state;

    /// <summary>
    /// Trains for the configured epochs, calling <paramref name="onEpoch"/> after each. With
    /// <paramref name="resume"/> (whose parameters must be this trainer's), the run goes on from where it
    /// stood, after the <paramref name="previous"/> epochs; <paramref name="afterStep"/> sees every applied step (checkpoints).
    /// A run with a validation split (<see cref="TrainingSettings.ValidationFraction"/>) measures <paramref name="validation"/>
    /// after every epoch, and may stop early.
    /// </summary>
    public IReadOnlyList<EpochResult> Train(Dataset train, Dataset test, Action<EpochResult>? onEpoch = null,
        TrainingState? resume = null, IReadOnlyList<EpochResult>? previous = null, Action<TrainingState, IReadOnlyList<EpochResult>, bool>? afterStep = null,
        Dataset? validation = null)
    {
        CheckData(_spec, train);
        CheckData(_spec, test);
        if (validation is not null) CheckData(_spec, validation);
        if (resume is not null && !ReferenceEquals(resume.Parameters, Parameters)) throw new ArgumentException("resume from a state over this trainer's parameters");
        var state = _state = resume ?? new TrainingState(_spec, Parameters, _settings, train.Count);
        var results = new List<EpochResult>(previous ?? []);
        int features = _spec.InputSize;
        // helper threads for the products while this trains (they end with it)
        using var team = _threads > 1 ? new Numerics.GemmTeam(_threads) : null;
        _backprop.Team = team;
        try
        {
            TrainSteps(train, test, validation, onEpoch, afterStep, state, results, features);
        }
        finally
        {
            _backprop.Team = null;
        }
        return results;
    }

    private void TrainSteps(Dataset train, Dataset test, Dataset? validation, Action<EpochResult>? onEpoch,
        Action<TrainingState, IReadOnlyList<EpochResult>, bool>? afterStep, TrainingState state, List<EpochResult> results, int features)
    {
        while (!state.Finished)
        {
            state.BeginStep();
            var batch = state.CurrentBatch;
            var augment = state.Settings.Augmentation;
            for (int r = 0; r < batch.Length; r++)
            {
                augment.Gather(train, batch[r], _spec.InputShape, state.Plan.Seed, state.Epoch, _input.AsSpan(r * features, features), _scratch);
                _labels[r] = train.Labels[batch[r]];
            }
            state.Plan.ShardBounds(batch.Length, _bounds);
            var stats = _backprop.Gradient(Parameters, _input, _labels, batch.Length, _bounds, _gradient,
                dropout: new DropoutKey(state.Plan.Seed, state.Epoch, state.StepInEpoch));
            bool epochEnded = state.ApplyStep(_gradient, stats, _backprop.Activity);
            if (epochEnded)
            {
                var result = state.FinishEpoch(Evaluate(test), validation is null ? null : Evaluate(validation));
                results.Add(result);
                onEpoch?.Invoke(result);
            }
            afterStep?.Invoke(state, results, epochEnded);
        }
    }

    /// <summary>Refuses a data set whose shape does not fit the network, naming what to change.</summary>
    public static void CheckData(NetworkSpec spec, Dataset data)
    {
        if (data.FeatureCount != spec.InputSize)
            throw new UserErrorException($"the network takes {spec.InputSize} inputs but the data set '{data.Name}' has {data.FeatureCount} features per sample; " +
                (spec.IsPlainStack ? $"make the first --layers size {data.FeatureCount}" : $"make the model spec's \"input\" shape hold {data.FeatureCount} values"));
        bool fits = spec.OutputSize == 1 ? data.ClassCount <= 2 : data.ClassCount <= spec.OutputSize;
        if (!fits)
            throw new UserErrorException($"the data set '{data.Name}' has {data.ClassCount} classes but the network has only {spec.OutputSize} outputs; " +
                (spec.IsPlainStack ? $"make the last --layers size at least {data.ClassCount}" : $"give the model spec's last layer at least {data.ClassCount} units"));
    }

    /// <summary>Loss sum and correct count of the current parameters on <paramref name="data"/>.</summary>
    public BatchStats Evaluate(Dataset data) => Evaluate(_backprop, Parameters, data);

    /// <summary>
    /// Loss and accuracy over <paramref name="data"/> in chunks of <see cref="EvaluationChunk"/> rows,
    /// summed in chunk order — the same chunks the cluster hands to its workers.
    /// </summary>
    public static BatchStats Evaluate(Backprop backprop, ReadOnlySpan<float> parameters, Dataset data)
    {
        var total = new BatchStats(0, 0, 0);
        for (int chunk = 0; chunk < EvaluationChunks(data.Count); chunk++)
            total += EvaluateChunk(backprop, parameters, data, chunk);
        return total;
    }

    /// <summary>Rows per evaluation chunk: fixed, so the sum of chunk results never depends on who computed them.</summary>
    public const int EvaluationChunk = 256;

    // an evaluation chunk's rows as floats (the data set may keep them as bytes), one buffer per thread
    [ThreadStatic] private static float[]? t_rows;

    public static int EvaluationChunks(int count) => (count + EvaluationChunk - 1) / EvaluationChunk;

    public static BatchStats EvaluateChunk(Backprop backprop, ReadOnlySpan<float> parameters, Dataset data, int chunk, long weightsVersion = -1)
    {
        int f = data.FeatureCount;
        int start = chunk * EvaluationChunk;
        int rows = System.Math.Min(EvaluationChunk, data.Count - start);
        var stats = new BatchStats(0, 0, 0);
        int needed = System.Math.Min(rows, backprop.MaxRows) * f;
        if (t_rows is null || t_rows.Length < needed) t_rows = GC.AllocateArray<float>(needed, pinned: true);
        var rowsScratch = t_rows;
        // in passes of at most MaxRows (wide layers keep their workspace small); the sums run on across passes
        for (int done = 0; done < rows; done += backprop.MaxRows)
        {
            int n = System.Math.Min(backprop.MaxRows, rows - done);
            data.CopyRows(start + done, n, rowsScratch);
            backprop.Forward(parameters, rowsScratch.AsSpan(0, n * f), n, weightsVersion);
            stats = backprop.Evaluate(data.Labels.AsSpan(start + done, n), n, stats);
        }
        return stats;
    }
}
