using System.Collections.Concurrent;
using System.Net;
using DistributedNN.Protocol;
using DistributedNN.Training;
using DistributedNN.Transport;

namespace DistributedNN.Tests.Transport;

/// <summary>
/// Two workers' slice exchanges over real loopback connections. The coordinator sends a new layout to every worker at
/// once, so one worker's hello and gradient slices can reach another before that one has read the layout (a worker that
/// just joined is cold): they must wait for it, not be dropped — dropped, the owner's slice never had all its parts and
/// the step stalled for the whole step timeout (a CI failure of the mid-run joiner test).
/// </summary>
public sealed class SliceExchangeTests
{
    private const int Parameters = 32, Shards = 2;
    private static readonly Guid Job = Guid.NewGuid();
    private static readonly LinkSettings Settings = new(Job, Parameters, 1, Shards);

    [Fact]
    [Trait(TestTiers.Category, TestTiers.Integration)]
    public async Task Slices_that_come_before_the_owner_reads_the_layout_wait_for_it_and_are_summed()
    {
        var problems = new ConcurrentQueue<string>();
        await using var a = new DataPlaneEndpoint(IPAddress.Loopback, 0, null, problems.Enqueue);
        await using var b = new DataPlaneEndpoint(IPAddress.Loopback, 0, null, problems.Enqueue);
        var sums = new BlockingCollection<(WorkResult Result, float[] Sum)>();
        using var exchangeA = new SliceExchange(Settings, new WeightsSlot(Parameters), problems.Enqueue, (_, _) => { });
        using var exchangeB = new SliceExchange(Settings, new WeightsSlot(Parameters), problems.Enqueue, (r, s) => sums.Add((r, s)));
        a.AttachPeers(exchangeA.ServeAsync);
        b.AttachPeers(exchangeB.ServeAsync);
        SliceOwner Owner(DataPlaneEndpoint e) => new("127.0.0.1", e.LocalEndPoint.Port, e.PeerToken);
        var layout = new ReduceLayout(Job, Id: 7, Version: 0, Self: 0, Bounds: [0, 16, 32], Owners: [Owner(a), Owner(b)],
            new OptimizerSettings(OptimizerKind.Sgd, 0.5f), OptimizerSteps: 0);

        // A reads the layout and sends both shards' gradients, slice 1 of each to B, which has no layout yet
        exchangeA.OnLayout(layout);
        var gradients = Enumerable.Range(0, Shards).Select(s => Enumerable.Range(0, Parameters).Select(i => 0.1f * i + s + 0.37f).ToArray()).ToArray();
        for (int shard = 0; shard < Shards; shard++)
            Assert.Equal(7, exchangeA.Scatter(step: 0, version: 0, shard, samples: 3, gradients[shard], TimeSpan.FromSeconds(30)));
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (exchangeB.FramesAwaitingLayout == 0 && DateTime.UtcNow < until) await Task.Delay(10); // polled: B's receive loop holds the first frame
        Assert.True(exchangeB.FramesAwaitingLayout > 0, "B's receive loop never held a frame for the layout it has not read");

        // then B reads it, and its slice's state (the weights) comes from the coordinator
        exchangeB.OnLayout(layout with { Self = 1 });
        var state = new TensorHeader(Job, 0, 0, TensorKind.SliceState, 0, 16) { Layout = 7 };
        Enumerable.Range(0, 16).Select(i => (float)i).ToArray().CopyTo(exchangeB.StateDestination(state));
        exchangeB.StateReceived(state);

        Assert.True(sums.TryTake(out var sum, TimeSpan.FromSeconds(30)), $"B never summed its slice: {string.Join("; ", problems)}");
        Assert.Equal(WorkKind.SliceSum, sum.Result.Kind);
        Assert.Equal(16, sum.Result.Item); // the slice's offset
        Assert.Equal(6, sum.Result.Stats.Count);
        Assert.Equal(Enumerable.Range(16, 16).Select(i => gradients[0][i] + gradients[1][i]), sum.Sum);
        Assert.Empty(problems);
    }

    [Fact]
    [Trait(TestTiers.Category, TestTiers.Integration)]
    public async Task A_frame_waiting_for_a_layout_lets_go_when_the_exchange_is_disposed()
    {
        await using var a = new DataPlaneEndpoint(IPAddress.Loopback, 0, null, _ => { });
        await using var b = new DataPlaneEndpoint(IPAddress.Loopback, 0, null, _ => { });
        using var exchangeA = new SliceExchange(Settings, new WeightsSlot(Parameters), _ => { }, (_, _) => { });
        var exchangeB = new SliceExchange(Settings, new WeightsSlot(Parameters), _ => { }, (_, _) => { });
        a.AttachPeers(exchangeA.ServeAsync);
        b.AttachPeers(exchangeB.ServeAsync);
        SliceOwner Owner(DataPlaneEndpoint e) => new("127.0.0.1", e.LocalEndPoint.Port, e.PeerToken);
        exchangeA.OnLayout(new ReduceLayout(Job, 3, 0, 0, [0, 16, 32], [Owner(a), Owner(b)], new OptimizerSettings(OptimizerKind.Sgd, 0.5f), 0));
        exchangeA.Scatter(0, 0, 0, 1, new float[Parameters], TimeSpan.FromSeconds(30));
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (exchangeB.FramesAwaitingLayout == 0 && DateTime.UtcNow < until) await Task.Delay(10);
        Assert.True(exchangeB.FramesAwaitingLayout > 0);

        var released = System.Diagnostics.Stopwatch.StartNew();
        exchangeB.Dispose(); // the link closed: no layout will come
        while (exchangeB.FramesAwaitingLayout > 0 && released.Elapsed < SliceExchange.LayoutWait) await Task.Delay(10);
        Assert.True(released.Elapsed < SliceExchange.LayoutWait / 2, $"the waiting frame held on {released.Elapsed.TotalSeconds:F1} s after the dispose");
    }

    [Theory]
    [InlineData(2, null, true)]
    [InlineData(0, null, false)] // no layout has id 0
    [InlineData(2, (ushort)1, true)]
    [InlineData(1, (ushort)1, false)]
    [InlineData(1, (ushort)2, false)]
    [InlineData(1, (ushort)65535, true)] // ids wrap from 65535 to 1
    [InlineData(65535, (ushort)1, false)]
    public void A_layout_id_is_newer_by_serial_number_arithmetic(int id, ushort? current, bool newer) =>
        Assert.Equal(newer, SliceExchange.IsNewer((ushort)id, current));
}
