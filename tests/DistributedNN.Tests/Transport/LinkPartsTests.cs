using DistributedNN.Model;
using DistributedNN.Protocol;
using DistributedNN.Transport;

namespace DistributedNN.Tests.Transport;

/// <summary>
/// The plain parts the links are built of: a result paired with the gradient that follows it (and nothing else), and the
/// worker's weights slot, whose leased buffer newer weights never overwrite.
/// </summary>
public sealed class LinkPartsTests
{
    private static readonly Guid Job = Guid.NewGuid();

    private static WorkResult Shard(int item, long step = 3, int length = 10) =>
        new(WorkKind.Shards, Job, step, step, item, new BatchStats(1, 0, 4), 1, length, []);

    private static TensorHeader Gradient(int shard, long step = 3) => new(Job, step, step, TensorKind.ShardGradient, shard, 10);

    [Fact]
    public void A_shard_result_waits_for_its_gradient_and_anything_else_breaks_the_pairing()
    {
        var pairing = new ResultPairing(parameterCount: 10);
        Assert.False(pairing.OnResult(Shard(2), out var violation)); // held
        Assert.Null(violation);
        Assert.Equal(2, pairing.OnGradient(Gradient(2), out violation)!.Item);
        Assert.Null(violation);

        // a gradient with no result waiting, or for another shard or step
        Assert.Null(pairing.OnGradient(Gradient(2), out violation));
        Assert.Contains("without its result", violation);
        pairing.OnResult(Shard(1), out _);
        Assert.Null(pairing.OnGradient(Gradient(2), out violation));
        Assert.NotNull(violation);
        pairing.OnResult(Shard(1), out _);
        Assert.Null(pairing.OnGradient(Gradient(1, step: 4), out _));

        // a result whose gradient never came before the next result
        pairing.OnResult(Shard(0), out _);
        pairing.OnResult(Shard(3), out violation);
        Assert.Contains("without its gradient", violation);

        // evaluation results, and results announcing a gradient of another length, stand alone
        var fresh = new ResultPairing(10);
        Assert.True(fresh.OnResult(new WorkResult(WorkKind.Evaluation, Job, 1, 1, 0, new BatchStats(1, 0, 4), 1, 0, []), out _));
        Assert.True(fresh.OnResult(Shard(0, length: 3), out violation));
        Assert.Null(violation);
    }

    private static WorkResult SliceSum(int offset, int count, long step = 3) =>
        new(WorkKind.SliceSum, Job, step, step, offset, new BatchStats(1, 0, 4), 1, count, []);

    private static TensorHeader SliceSumFrame(int offset, int count, long step = 3) => new(Job, step, step, TensorKind.SliceSum, offset, count) { Layout = 2 };

    [Fact]
    public void A_slice_sum_result_waits_for_its_slice_sum_frame_and_nothing_else()
    {
        var pairing = new ResultPairing(parameterCount: 10);
        Assert.False(pairing.OnResult(SliceSum(offset: 4, count: 6), out var violation)); // held
        Assert.Null(violation);
        var paired = pairing.OnGradient(SliceSumFrame(4, 6), out violation);
        Assert.Null(violation);
        Assert.Equal((WorkKind.SliceSum, 4, 6), (paired!.Kind, paired.Item, paired.GradientLength));

        // a frame of another count, offset, step or version
        foreach (var frame in new[] { SliceSumFrame(4, 5), SliceSumFrame(4, 7), SliceSumFrame(0, 6), SliceSumFrame(4, 6, step: 4), SliceSumFrame(4, 6) with { Version = 2 } })
        {
            Assert.False(pairing.OnResult(SliceSum(4, 6), out _));
            Assert.Null(pairing.OnGradient(frame, out violation));
            Assert.Contains("without its result", violation);
        }

        // a shard's gradient frame after a slice sum's result, and a slice sum frame after a shard's result
        Assert.False(pairing.OnResult(SliceSum(0, 10), out _));
        Assert.Null(pairing.OnGradient(new TensorHeader(Job, 3, 3, TensorKind.ShardGradient, 0, 10), out violation));
        Assert.NotNull(violation);
        Assert.False(pairing.OnResult(Shard(0), out _));
        Assert.Null(pairing.OnGradient(SliceSumFrame(0, 10), out violation));
        Assert.NotNull(violation);

        // a slice sum result that announces no slice of the model stands alone; one waiting breaks on the next result
        Assert.True(pairing.OnResult(SliceSum(0, 0), out violation));
        Assert.Null(violation);
        Assert.True(pairing.OnResult(SliceSum(0, 11), out _));
        Assert.False(pairing.OnResult(SliceSum(4, 6), out _));
        pairing.OnResult(SliceSum(0, 4), out violation);
        Assert.Contains("without its gradient", violation);
    }

    [Fact]
    public void Weights_arriving_while_a_version_is_in_use_never_land_in_the_leased_buffer()
    {
        var slot = new WeightsSlot(4);
        Assert.Null(slot.Lease(0));
        var first = slot.Rent();
        first.AsSpan().Fill(1);
        slot.Publish(first, 0);
        var inUse = slot.Lease(0)!.Value;
        Assert.Null(slot.Lease(1));
        // versions 1, 2, 3 arrive while the order loop still computes with version 0
        for (long v = 1; v <= 3; v++)
        {
            var buffer = slot.Rent();
            Assert.NotSame(first, buffer);
            buffer.AsSpan().Fill(v + 1);
            slot.Publish(buffer, v);
        }
        Assert.All(inUse.ToArray(), x => Assert.Equal(1f, x));
        Assert.Equal(4f, slot.Lease(3)!.Value.Span[0]);
        // an older version arriving late is not published over a newer one
        var late = slot.Rent();
        late.AsSpan().Fill(9);
        slot.Publish(late, 2);
        Assert.Null(slot.Lease(2));
        Assert.Equal(4f, slot.Lease(3)!.Value.Span[0]);
    }
}
