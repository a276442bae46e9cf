using DistributedNN.Data;
using DistributedNN.Training;

namespace DistributedNN.Coordinator;

/// <summary>A worker caught lying: its opinion on a shard of a step differed, bit for bit, from the coordinator's own computation.</summary>
public sealed record Exposure(int Worker, string Name, long Step, int Shard);

/// <summary>What verification did over a run (metrics.json, the end-of-run summary).</summary>
/// <param name="ShardsVerified">shards of applied steps that were computed twice and compared</param>
/// <param name="Mismatches">worker results that differed from the coordinator's own computation</param>
/// <param name="Quarantined">the workers caught lying, by name</param>
public sealed record VerificationCounts(double Fraction, ulong Key, long ShardsVerified, long Mismatches, IReadOnlyList<string> Quarantined);

/// <summary>
/// Verify, don't trust, the workers' arithmetic (--verify-fraction). A shard's gradient is a pure function of (weights,
/// shard), the same bits on any node, so a fraction of each step's shards (<see cref="VerificationPlan"/>) is computed by
/// two workers and compared; when they differ, the coordinator computes the shard itself (<see cref="ShardReferee"/>)
/// and whoever differs from it lied: it is quarantined at once and everything it delivered in the step is computed again
/// by others, so the step applies only honest gradients. With a single healthy worker the coordinator gives the second
/// opinion itself. Plain: the round driver calls it as results come in.
/// </summary>
public sealed class ShardVerification(VerificationPlan plan, ShardReferee referee)
{
    private readonly List<string> _quarantined = [];
    private long _verified, _mismatches;

    public VerificationPlan Plan => plan;

    public VerificationCounts Counts => new(plan.Fraction, plan.Key, _verified, _mismatches, [.. _quarantined]);

    /// <summary>Verification for a run on <paramref name="train"/>/<paramref name="test"/>, or null for a fraction of 0.</summary>
    public static ShardVerification? For(double fraction, TrainingState state, Dataset train, Dataset test, Transport.WireFormat weights = Transport.WireFormat.Fp32,
        Transport.WireFormat gradients = Transport.WireFormat.Fp32, ulong? key = null)
    {
        if (!(fraction > 0)) return null;
        var s = state.Settings;
        var computer = new ShardComputer(state.Spec, train, test, s.BatchSize, s.Shards, s.Seed, s.Shuffle, s.Augment, s.LabelSmoothing);
        return new ShardVerification(new VerificationPlan(fraction, s.Seed, key ?? VerificationPlan.NewKey()), new ShardReferee(computer, weights, gradients));
    }

    /// <summary>
    /// After a result for a verified <paramref name="shard"/> came in: a dispute between two workers is decided by the
    /// coordinator's own computation, and every worker that differs from it is exposed (returned).
    /// </summary>
    public IReadOnlyList<Exposure> Judge(StepAggregator step, int shard, WorkScheduler scheduler, float[] parameters)
    {
        var verdict = step.Judge(shard);
        if (verdict.Disputed)
        {
            step.Referee(shard, referee.Compute(step, shard, parameters));
            verdict = step.Judge(shard);
        }
        return verdict.Liars.Select(liar => Expose(liar, step, shard, scheduler)).ToList();
    }

    /// <summary>The slots no healthy worker may take, computed by the coordinator and judged; the workers exposed are returned.</summary>
    public IReadOnlyList<Exposure> ComputeStranded(StepAggregator step, WorkScheduler scheduler, float[] parameters)
    {
        var exposed = new List<Exposure>();
        foreach (int shard in scheduler.TakeStranded())
        {
            if (!step.Refereed(shard)) step.Referee(shard, referee.Compute(step, shard, parameters));
            exposed.AddRange(Judge(step, shard, scheduler, parameters));
        }
        return exposed;
    }

    /// <summary>A step applied: its verified shards count.</summary>
    public void Applied(StepAggregator step) => _verified += step.Verified.Count;

    /// <summary>A proven lie needs no second chance: no more work, and all the liar delivered in this step is redone elsewhere.</summary>
    private Exposure Expose(ShardOpinion liar, StepAggregator step, int shard, WorkScheduler scheduler)
    {
        _mismatches++;
        scheduler.Quarantine(liar.Worker);
        foreach (int other in step.Discard(liar.Worker)) scheduler.Reopen(other, liar.Worker);
        if (!_quarantined.Contains(liar.Name)) _quarantined.Add(liar.Name);
        return new Exposure(liar.Worker, liar.Name, step.Step, shard);
    }
}
