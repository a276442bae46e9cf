using DistributedNN.Model;
using DistributedNN.Protocol;
using DistributedNN.Transport;

namespace DistributedNN.Tests.Transport;

/// <summary>
/// The one encoding of orders and results (<see cref="WorkCodec"/>) and its frames (<see cref="WorkFrames"/>): what goes in
/// comes out, over a real channel too; anything that cannot be an order or a result is refused before it is allocated.
/// </summary>
public sealed class WorkCodecTests
{
    private static readonly Guid Job = Guid.NewGuid();

    private static WorkOrder Order(params int[] items) => new(WorkKind.Shards, Job, 123_456_789_012, 99, 7, 58, items);

    private static WorkResult Result(params int[] activity) =>
        new(WorkKind.Shards, Job, 5, 6, 2, new BatchStats(1234.5678901234, 17, 256), 3.25, 235_146, activity);

    [Fact]
    public void An_order_and_a_result_come_back_as_they_went_in_bytes_and_in_frames()
    {
        var order = Order(0, 3, 2);
        var bytes = new byte[WorkCodec.OrderBytes(3)];
        Assert.Equal(bytes.Length, WorkCodec.Write(order, bytes));
        var back = WorkCodec.ReadOrder(bytes, 3)!;
        Assert.Equal(order with { Items = back.Items }, back);
        Assert.Equal(order.Items, back.Items);

        var (oh, op) = WorkFrames.Order(order);
        Assert.Equal((TensorKind.Order, TensorHeader.NoShard, WorkFrames.OrderCount(3), order.Step, order.Version), (oh.Kind, oh.Shard, oh.Count, oh.Step, oh.Version));
        Assert.Equal(order.Items, WorkFrames.ReadOrder(oh, op, 3)!.Items);

        var result = Result(4, 0, 9);
        var (rh, rp) = WorkFrames.Result(result);
        Assert.Equal((TensorKind.Result, 2, WorkFrames.ResultCount(3)), (rh.Kind, rh.Shard, rh.Count));
        var r = WorkFrames.ReadResult(rh, rp, 3)!;
        Assert.Equal(result with { Activity = r.Activity }, r);
        Assert.Equal([4, 0, 9], r.Activity);
        var evaluation = new WorkResult(WorkKind.Evaluation, Job, 1, 1, 39, new BatchStats(0.5, 3, 16), 0.1, 0, []);
        var (eh, ep) = WorkFrames.Result(evaluation);
        Assert.Equal(evaluation with { Activity = [] }, WorkFrames.ReadResult(eh, ep, 3)! with { Activity = [] });
    }

    [Fact]
    public void Bytes_that_cannot_be_an_order_or_a_result_are_refused()
    {
        var bytes = new byte[WorkCodec.OrderBytes(2)];
        WorkCodec.Write(Order(1, 2), bytes);
        Assert.NotNull(WorkCodec.ReadOrder(bytes, 2));
        Assert.Null(WorkCodec.ReadOrder(bytes, 1));                            // more items than the reader allows
        Assert.Null(WorkCodec.ReadOrder(bytes.AsSpan(0, bytes.Length - 1), 2)); // cut short
        Assert.Null(WorkCodec.ReadOrder(bytes.AsSpan(0, 10), 2));
        var kind = (byte[])bytes.Clone();
        kind[0] = 9;                                                           // no such kind
        Assert.Null(WorkCodec.ReadOrder(kind, 2));
        var negative = (byte[])bytes.Clone();
        BitConverter.TryWriteBytes(negative.AsSpan(WorkCodec.OrderFixedBytes), -1);
        Assert.Null(WorkCodec.ReadOrder(negative, 2));                         // a negative item
        var huge = (byte[])bytes.Clone();
        BitConverter.TryWriteBytes(huge.AsSpan(WorkCodec.OrderFixedBytes - 4), 536_870_897);
        Assert.Null(WorkCodec.ReadOrder(huge, int.MaxValue));                  // a count past the bytes, whatever the bound

        var (rh, rp) = WorkFrames.Result(Result(1, 2));
        Assert.Null(WorkFrames.ReadResult(rh, rp, 1));                         // more activity counts than layers
        Assert.Null(WorkFrames.ReadResult(rh with { Kind = TensorKind.Order }, rp, 2));
        Assert.Null(WorkFrames.ReadResult(rh with { Shard = 3 }, rp, 2));      // the header disagrees with the result
        Assert.Null(WorkFrames.ReadResult(rh with { Step = 4 }, rp, 2));
        Assert.Null(WorkFrames.ReadResult(rh, rp.AsSpan(0, 6), 2));
        var (oh, op) = WorkFrames.Order(Order(1));
        Assert.Null(WorkFrames.ReadOrder(oh with { Job = Guid.NewGuid() }, op, 4));
        Assert.Null(WorkFrames.ReadOrder(oh with { Kind = TensorKind.Weights }, op, 4));
    }

    [Fact]
    [Trait(TestTiers.Category, TestTiers.Integration)]
    public async Task Orders_and_results_cross_a_channel_and_are_not_counted_as_tensor_bytes()
    {
        var received = new TaskCompletionSource<(TensorHeader, float[])>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var listener = new TensorListener(System.Net.IPAddress.Loopback, 0, channel => channel.ReceiveLoopAsync(new Collect(received)));
        await using var client = await TensorChannel.ConnectAsync(listener.LocalEndPoint, TensorChannelOptions.Default, CancellationToken.None);
        var order = Order(5, 6);
        var (h, p) = WorkFrames.Order(order);
        await client.SendAsync(h, p);
        var (header, payload) = await received.Task.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(order.Items, WorkFrames.ReadOrder(header, payload, 2)!.Items);
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
