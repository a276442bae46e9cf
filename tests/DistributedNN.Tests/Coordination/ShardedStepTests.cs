using DistributedNN.Coordinator;
using DistributedNN.Model;
using DistributedNN.Protocol;
using DistributedNN.Transport;

namespace DistributedNN.Tests.Coordination;

/// <summary>
/// A sharded step on the coordinator, without actors (<see cref="StepAggregator.ShardedOver"/>): the shards' results come
/// without gradients and name the layout whose owners got them; the step's sum comes slice by slice from the owners and is
/// put together at the layout's offsets; the step is settled only with every slice, and a new layout forgets what came
/// under the old one.
/// </summary>
public sealed class ShardedStepTests
{
    private const int P = 100;
    private static readonly int[] ShardBounds = [0, 3, 6, 9, 12]; // 4 shards of 3 samples
    private static readonly int[] Layers = [8, 2];
    private static readonly int[] Slices = [0, 32, 64, P];
    private static readonly Guid Job = Guid.NewGuid();
    private const long Step = 9, Version = 9;

    // loss sums whose sum depends on the order of addition: ((0.1 + 1e16) − 1e16) + 0.3 = 0.3, the other way round 0.1
    private static readonly BatchStats[] Stats = [new(0.1, 1, 3), new(1e16, 2, 3), new(-1e16, 0, 3), new(0.3, 3, 3)];

    private static StepAggregator NewStep(GradientBufferPool? pool = null, float[]? total = null) =>
        new(Job, Step, Version, 0, 9, ShardBounds, pool ?? new GradientBufferPool(P, 8), Layers, total: total ?? new float[P]);

    private static WorkResult Shard(int item, ushort layout, int gradientLength = 0) =>
        new(WorkKind.Shards, Job, Step, Version, item, Stats[item], 1, gradientLength, [0, 0], layout);

    private static WorkResult SliceSum(int offset, int length, int samples = 12, long step = Step) =>
        new(WorkKind.SliceSum, Job, step, Version, offset, new BatchStats(0, 0, samples), 1, length, []);

    /// <summary>An owner's sum as the link hands it over: a pool buffer whose first values are the slice's (value: 1000·layout + index in the model), garbage after.</summary>
    private static float[] SumBuffer(int offset, int length, int layout)
    {
        var buffer = Enumerable.Repeat(float.NaN, P).ToArray();
        for (int i = 0; i < length; i++) buffer[i] = 1000 * layout + offset + i;
        return buffer;
    }

    private static Rejection? Deliver(StepAggregator step, int offset, int length, int layout) =>
        step.Addressed(SliceSum(offset, length)) ?? step.Accept(SliceSum(offset, length), SumBuffer(offset, length, layout), 1, "owner");

    [Fact]
    public void Shard_results_count_when_they_name_the_layout_and_carry_no_gradient()
    {
        var step = NewStep();
        step.ShardedOver(5, Slices);
        Assert.Null(step.Addressed(Shard(0, 5)));
        Assert.Null(step.Accept(Shard(0, 5), null, 1, "w1"));
        Assert.Equal(RejectionKind.Stale, step.Accept(Shard(1, 4), null, 1, "w1")?.Kind);
        Assert.Equal(RejectionKind.Stale, step.Accept(Shard(1, 0), null, 1, "w1")?.Kind);
        Assert.Equal(RejectionKind.Malformed, step.Accept(Shard(1, 5, gradientLength: P), new float[P], 1, "w1")?.Kind);
        Assert.Equal(RejectionKind.Malformed, step.Accept(Shard(1, 5, gradientLength: P), null, 1, "w1")?.Kind);
        Assert.Equal(RejectionKind.Malformed, step.Accept(Shard(1, 5), new float[P], 1, "w1")?.Kind);
        Assert.Equal(RejectionKind.Malformed, step.Accept(Shard(0, 5), null, 2, "w2")?.Kind); // already delivered
        Assert.Null(step.Accept(Shard(1, 5), null, 1, "w1"));
    }

    [Fact]
    public void A_slice_sum_is_addressed_only_to_a_sharded_step_of_its_step_and_version()
    {
        var star = NewStep();
        Assert.Equal(RejectionKind.Stale, star.Addressed(SliceSum(0, 32))?.Kind);
        Assert.True(star.Settled); // a star step waits for no slice
        Assert.Throws<InvalidOperationException>(() => new StepAggregator(Job, Step, Version, 0, 9, ShardBounds, new GradientBufferPool(P, 8), Layers).ShardedOver(1, Slices));

        var step = NewStep();
        step.ShardedOver(5, Slices);
        Assert.Null(step.Addressed(SliceSum(0, 32)));
        Assert.Equal(RejectionKind.Stale, step.Addressed(SliceSum(0, 32, step: Step - 1))?.Kind);
        Assert.Equal(RejectionKind.Stale, step.Addressed(SliceSum(0, 32) with { Version = Version + 1 })?.Kind);
        Assert.Equal(RejectionKind.Stale, step.Addressed(SliceSum(0, 32) with { Job = Guid.NewGuid() })?.Kind);
    }

    [Fact]
    public void Slice_sums_are_put_together_at_their_offsets_and_the_step_settles_with_the_last()
    {
        var total = new float[P];
        var step = NewStep(total: total);
        step.ShardedOver(5, Slices);
        for (int s = 0; s < 4; s++) Assert.Null(step.Accept(Shard(s, 5), null, s, $"w{s}"));
        Assert.False(step.Settled);
        Assert.Throws<InvalidOperationException>(() => step.Sum(new float[P]));

        Assert.Null(Deliver(step, 64, 36, 5));
        Assert.Equal(RejectionKind.Malformed, Deliver(step, 64, 36, 5)?.Kind); // the same slice again
        Assert.Equal(RejectionKind.Stale, Deliver(step, 10, 22, 5)?.Kind);     // not a bound
        Assert.Equal(RejectionKind.Stale, Deliver(step, P, 0, 5)?.Kind);       // the end is no slice
        Assert.Equal(RejectionKind.Stale, Deliver(step, 32, 31, 5)?.Kind);     // not the slice's length
        Assert.Equal(RejectionKind.Stale, step.Accept(SliceSum(32, 32), null, 1, "owner")?.Kind);
        Assert.Equal(RejectionKind.Malformed, step.Accept(SliceSum(32, 32, samples: 11), SumBuffer(32, 32, 5), 1, "owner")?.Kind);
        Assert.Null(Deliver(step, 32, 32, 5));
        Assert.False(step.Settled);
        Assert.Null(Deliver(step, 0, 32, 5));
        Assert.True(step.Settled);

        var sum = new float[P];
        var stats = step.Sum(sum);
        Assert.Equal(Enumerable.Range(0, P).Select(i => 5000f + i), sum);
        Assert.Equal(sum, total);
        var inShardOrder = new BatchStats(0, 0, 0) + Stats[0] + Stats[1] + Stats[2] + Stats[3];
        Assert.Equal(inShardOrder, stats);
        Assert.NotEqual(new BatchStats(0, 0, 0) + Stats[3] + Stats[2] + Stats[1] + Stats[0], stats);
        Assert.Equal((12, 6), (stats.Count, stats.Correct));
    }

    [Fact]
    public void Every_slice_in_is_not_enough_while_a_shard_result_is_missing()
    {
        var step = NewStep();
        step.ShardedOver(5, Slices);
        for (int i = 0; i < 3; i++) Assert.Null(Deliver(step, Slices[i], Slices[i + 1] - Slices[i], 5));
        Assert.True(step.Settled);
        for (int s = 0; s < 3; s++) Assert.Null(step.Accept(Shard(s, 5), null, s, $"w{s}"));
        Assert.Throws<InvalidOperationException>(() => step.Sum(new float[P]));
        Assert.Null(step.Accept(Shard(3, 5), null, 3, "w3"));
        Assert.Equal(12, step.Sum(new float[P]).Count);
    }

    [Fact]
    public void A_new_layout_forgets_every_result_of_the_old_one()
    {
        var pool = new GradientBufferPool(P, 8);
        var step = NewStep(pool);
        step.ShardedOver(5, Slices);
        for (int s = 0; s < 4; s++) Assert.Null(step.Accept(Shard(s, 5), null, s, $"w{s}"));
        for (int i = 0; i < 3; i++) Assert.Null(Deliver(step, Slices[i], Slices[i + 1] - Slices[i], 5));
        Assert.True(step.Settled);

        step.ShardedOver(6, [0, 48, P]); // a worker left: two owners now
        Assert.False(step.Settled);
        Assert.Equal(0, pool.Spares); // the forgotten results held no buffers
        Assert.Equal(RejectionKind.Stale, step.Accept(Shard(0, 5), null, 0, "w0")?.Kind);
        Assert.Equal(RejectionKind.Stale, Deliver(step, 32, 32, 6)?.Kind);
        Assert.Equal(RejectionKind.Stale, Deliver(step, 0, 32, 6)?.Kind);
        Assert.Null(Deliver(step, 0, 48, 6));
        Assert.Null(Deliver(step, 48, 52, 6));
        Assert.True(step.Settled);
        Assert.Throws<InvalidOperationException>(() => step.Sum(new float[P])); // the shards' results went with layout 5
        for (int s = 0; s < 4; s++) Assert.Null(step.Accept(Shard(s, 6), null, s, $"w{s}"));

        var sum = new float[P];
        Assert.Equal(12, step.Sum(sum).Count);
        Assert.Equal(Enumerable.Range(0, P).Select(i => 6000f + i), sum);
    }

    /// <summary>
    /// docs/SECURITY.md promises every result is checked for finiteness, and in the star a NaN gradient is refused as
    /// NonFinite (redone elsewhere; NaN twice stops the run as diverged). A sharded step's gradients never reach the
    /// coordinator, so the slice sum is the one place it can check them. FAILS today: AcceptSlice copies a NaN sum in.
    /// </summary>
    [Fact]
    public void A_slice_sum_holding_NaN_or_infinity_is_refused_as_non_finite()
    {
        var step = NewStep();
        step.ShardedOver(5, Slices);
        var poisoned = SumBuffer(32, 32, 5);
        poisoned[7] = float.NaN;
        Assert.Equal(RejectionKind.NonFinite, step.Accept(SliceSum(32, 32), poisoned, 1, "owner")?.Kind);
        var infinite = SumBuffer(32, 32, 5);
        infinite[31] = float.PositiveInfinity;
        Assert.Equal(RejectionKind.NonFinite, step.Accept(SliceSum(32, 32), infinite, 1, "owner")?.Kind);
    }
}
