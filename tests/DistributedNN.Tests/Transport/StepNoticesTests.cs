using Akka.Actor;
using DistributedNN.Protocol;
using DistributedNN.Transport;

namespace DistributedNN.Tests.Transport;

/// <summary>A step's order and result as data-plane frames: what goes in comes out, over a real channel too; malformed ones are refused.</summary>
public sealed class StepNoticesTests
{
    [Fact]
    public void An_order_and_a_result_come_back_as_they_went()
    {
        var job = Guid.NewGuid();
        var order = new ComputeShards(job, 123_456_789_012, 99, 7, 58, [0, 3, 2]);
        var (oh, op) = StepNotices.Order(order);
        Assert.Equal((TensorKind.Order, TensorHeader.NoShard, StepNotices.OrderCount(3)), (oh.Kind, oh.Shard, oh.Count));
        var back = StepNotices.ReadOrder(oh, op);
        Assert.NotNull(back);
        Assert.Equal((order.Job, order.Step, order.Version, order.Epoch, order.StepInEpoch), (back.Job, back.Step, back.Version, back.Epoch, back.StepInEpoch));
        Assert.Equal(order.Shards, back.Shards);

        var (rh, rp) = StepNotices.Result(job, 5, 6, 2, 1234.5678901234, 3.25, 17, 256, 235_146, [4, 0, 9]);
        Assert.Equal((TensorKind.Result, 2, StepNotices.ResultCount(3)), (rh.Kind, rh.Shard, rh.Count));
        var r = StepNotices.ReadResult(rh, rp, ActorRefs.Nobody);
        Assert.NotNull(r);
        Assert.Equal(new ShardResult(job, 5, 6, 2, ActorRefs.Nobody, 1234.5678901234, 17, 256, 3.25, 235_146, r.Activity), r);
        Assert.Equal([4, 0, 9], r.Activity!);
    }

    [Fact]
    public void A_frame_that_cannot_be_a_notice_is_refused()
    {
        var job = Guid.NewGuid();
        var (oh, op) = StepNotices.Order(new ComputeShards(job, 1, 1, 0, 0, [1]));
        Assert.Null(StepNotices.ReadOrder(oh with { Kind = TensorKind.Weights }, op));
        Assert.Null(StepNotices.ReadOrder(oh with { Count = 2 }, op.AsSpan(0, 2))); // no shard
        var negative = (float[])op.Clone();
        negative[2] = BitConverter.Int32BitsToSingle(-1);
        Assert.Null(StepNotices.ReadOrder(oh, negative));
        var (rh, rp) = StepNotices.Result(job, 1, 1, 0, 0, 0, 0, 0, 0, []);
        Assert.Null(StepNotices.ReadResult(rh with { Kind = TensorKind.Order }, rp, ActorRefs.Nobody));
        Assert.Null(StepNotices.ReadResult(rh, rp.AsSpan(0, 6), ActorRefs.Nobody));
    }

    [Fact]
    [Trait(TestTiers.Category, TestTiers.Integration)]
    public async Task Notices_cross_a_channel_and_are_not_counted_as_tensor_bytes()
    {
        var received = new TaskCompletionSource<(TensorHeader, float[])>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var listener = new TensorListener(System.Net.IPAddress.Loopback, 0, channel => channel.ReceiveLoopAsync(new Collect(received)));
        await using var client = await TensorChannel.ConnectAsync(listener.LocalEndPoint, TensorChannelOptions.Default, CancellationToken.None);
        var order = new ComputeShards(Guid.NewGuid(), 3, 4, 1, 2, [5, 6]);
        var (h, p) = StepNotices.Order(order);
        await client.SendAsync(h, p);
        var (header, payload) = await received.Task.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(order.Shards, StepNotices.ReadOrder(header, payload)!.Shards);
        Assert.Equal(1, client.FramesSent);
        Assert.Equal(0, client.BytesSent);
    }

    private sealed class Collect(TaskCompletionSource<(TensorHeader, float[])> done) : ITensorSink
    {
        public bool TryGetDestination(in TensorHeader header, out Memory<float> destination)
        {
            destination = new float[header.Count];
            return true;
        }

        public void Received(in TensorHeader header, Memory<float> payload) => done.TrySetResult((header, payload.ToArray()));
    }
}
