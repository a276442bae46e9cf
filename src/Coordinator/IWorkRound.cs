using DistributedNN.Protocol;

namespace DistributedNN.Coordinator;

/// <summary>
/// The results of one round of work — a step's shards (<see cref="StepAggregator"/>) or an epoch's evaluation chunks
/// (<see cref="EvaluationRound"/>) — checked and kept as they arrive; who computes what is the <see cref="WorkScheduler"/>'s.
/// </summary>
public interface IWorkRound
{
    WorkKind Kind { get; }
    int Items { get; }

    /// <summary>Items to compute twice, by two workers, and compare (a step's verified shards; none for an evaluation).</summary>
    IReadOnlyList<int> Verified { get; }

    /// <summary>The order for <paramref name="items"/> of this round.</summary>
    WorkOrder Order(int[] items);

    /// <summary>Null when the result is for this round (job, step, version) and names one of its items; else why not.</summary>
    Rejection? Addressed(WorkResult result);

    /// <summary>
    /// Checks the result's content and keeps it (null), taking ownership of <paramref name="gradient"/>; a rejected result's
    /// gradient stays the caller's. <paramref name="worker"/> (an id) and <paramref name="name"/> say who computed it.
    /// </summary>
    Rejection? Accept(WorkResult result, float[]? gradient, int worker, string name);

    /// <summary>Returns every gradient buffer the round still holds to the pool.</summary>
    void Release();
}
