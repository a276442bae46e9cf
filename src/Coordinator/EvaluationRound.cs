using DistributedNN.Model;
using DistributedNN.Protocol;
using DistributedNN.Training;

namespace DistributedNN.Coordinator;

/// <summary>
/// An epoch's evaluation on the test set, in fixed chunks of <see cref="LocalTrainer.EvaluationChunk"/> samples, each
/// checked as it arrives (its sample count, a finite loss); the chunk results are added in chunk order, as the
/// single-process evaluation adds them.
/// </summary>
public sealed class EvaluationRound(Guid job, long step, long version, int testCount) : IWorkRound
{
    private readonly BatchStats?[] _chunks = new BatchStats?[LocalTrainer.EvaluationChunks(testCount)];

    public WorkKind Kind => WorkKind.Evaluation;
    public int Items => _chunks.Length;
    public IReadOnlyList<int> Verified => [];

    public WorkOrder Order(int[] items) => new(WorkKind.Evaluation, job, step, version, 0, 0, items);

    public Rejection? Addressed(WorkResult r)
    {
        if (r.Kind != WorkKind.Evaluation) return Rejection.Stale($"a {r.Kind} result during the evaluation of version {version}");
        if (r.Job != job || r.Version != version) return Rejection.Stale($"evaluation result for job {r.Job}, version {r.Version}");
        if ((uint)r.Item >= (uint)_chunks.Length) return Rejection.Malformed($"evaluation chunk {r.Item} does not exist (the test set has {_chunks.Length})");
        return null;
    }

    public Rejection? Accept(WorkResult r, float[]? gradient, int worker, string name)
    {
        int expected = Math.Min(LocalTrainer.EvaluationChunk, testCount - r.Item * LocalTrainer.EvaluationChunk);
        if (_chunks[r.Item] is not null) return Rejection.Malformed($"evaluation chunk {r.Item} was already delivered");
        if (gradient is not null) return Rejection.Malformed($"a gradient came with evaluation chunk {r.Item}");
        if (r.Stats.Count != expected || r.Stats.Correct < 0 || r.Stats.Correct > r.Stats.Count)
            return Rejection.Malformed($"chunk {r.Item} counts {r.Stats.Count} samples ({r.Stats.Correct} correct), expected {expected}");
        if (!double.IsFinite(r.Stats.LossSum)) return Rejection.Malformed($"chunk {r.Item} has loss {r.Stats.LossSum}");
        _chunks[r.Item] = r.Stats;
        return null;
    }

    /// <summary>The test set's loss and accuracy: the chunks added in chunk order (all accepted).</summary>
    public BatchStats Total()
    {
        var total = new BatchStats(0, 0, 0);
        foreach (var c in _chunks) total += c ?? throw new InvalidOperationException("the evaluation is not complete");
        return total;
    }

    public void Release() { }
}
