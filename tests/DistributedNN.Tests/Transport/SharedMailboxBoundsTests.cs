using System.IO.MemoryMappedFiles;
using DistributedNN.Model;
using DistributedNN.Protocol;
using DistributedNN.Tests.Engine;
using DistributedNN.Transport;

namespace DistributedNN.Tests.Transport;

/// <summary>
/// What the other process can do to a mailbox it shares: publish a counter out of its ring's bounds (the mailbox closes
/// with a violation), post more results than it was sent items (the link drops it); either way the coordinator's reader
/// thread ends cleanly, reports the worker, and the gradient pool stays bounded.
/// </summary>
[Collection(KernelPathCollection.Name)] // the mailbox waits: not while another test switches Futex to polling
public sealed class SharedMailboxBoundsTests : IDisposable
{
    // the counters' offsets in the mailbox file (docs/DATA_PLANE.md): orders written, orders read, results written, results read
    private const int OrdersWritten = 64, OrdersRead = 128, ResultsWritten = 192;
    private readonly TempDirectory _dir = new();
    public void Dispose() => _dir.Dispose();

    /// <summary>Writes <paramref name="value"/> into the file's word at <paramref name="offset"/>, as another process mapping it could.</summary>
    private static void Forge(string path, int offset, int value)
    {
        using var file = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.ReadWrite);
        using var view = file.CreateViewAccessor();
        view.Write(offset, value);
    }

    private static WorkResult Result(Guid job, int item) =>
        new(WorkKind.Shards, job, 1, 1, item, new BatchStats(0.5, 1, 4), 1.0, 8, [1, 2]);

    [Theory]
    [InlineData("results written ahead", ResultsWritten, 65, "the result ring's written counter is out of bounds (65 written, 0 read, 64 slots)")]
    [InlineData("results written behind", ResultsWritten, -1, "the result ring's written counter is out of bounds (-1 written, 0 read, 64 slots)")]
    [InlineData("orders read ahead", OrdersRead, 10, "the order ring's read counter is out of bounds (0 written, 10 read, 64 slots)")]
    [InlineData("orders written far ahead", OrdersWritten, int.MinValue, "the order ring's written counter is out of bounds (-2147483648 written, 0 read, 64 slots)")]
    public void A_counter_forged_out_of_its_rings_bounds_closes_the_mailbox_with_a_violation(string what, int offset, int value, string violation)
    {
        string path = _dir.File("mailbox");
        var job = Guid.NewGuid();
        using var coordinator = SharedMailbox.Create(path, 2);
        using var worker = SharedMailbox.Open(path, 2);
        Forge(path, offset, value);
        // the side that reads the forged counter notices it when it next uses that ring
        var (victim, used) = offset == OrdersWritten
            ? (worker, worker.TryTakeOrder() is not null)
            : offset == OrdersRead ? (coordinator, coordinator.TryPostOrder(new WorkOrder(WorkKind.Shards, job, 1, 1, 0, 0, [0])))
            : (coordinator, coordinator.TryTakeResult() is not null);
        Assert.False(used, what);
        Assert.Equal(violation, victim.Violation);
        Assert.True(coordinator.IsClosed);
        Assert.True(worker.IsClosed);
        Assert.Null(coordinator.TryTakeResult());
        Assert.False(worker.TryPostResult(Result(job, 0)));
    }

    private sealed record Harness(ShmWorkerLink Link, SharedMailbox Worker, GradientBufferPool Pool, RecordingLinkEvents Events, SharedTensorFile Weights, string Mailbox);

    private Harness Start(int poolCapacity)
    {
        var settings = new LinkSettings(Guid.NewGuid(), ParameterCount: 8, Layers: 2, Shards: 4);
        var weights = SharedTensorFile.Create(_dir.File("weights"), 1, 8);
        var gradients = SharedTensorFile.Create(_dir.File("gradients"), 4, 8);
        var mailbox = SharedMailbox.Create(_dir.File("mailbox"), 2);
        var pool = new GradientBufferPool(8, poolCapacity);
        var events = new RecordingLinkEvents();
        var link = new ShmWorkerLink(weights, gradients, mailbox, settings, pool, events);
        return new Harness(link, SharedMailbox.Open(mailbox.Path, 2), pool, events, weights, mailbox.Path);
    }

    private static void WaitFor(Func<bool> condition) =>
        Assert.True(SpinWait.SpinUntil(condition, TimeSpan.FromSeconds(30)), "the link's reader did not report in 30 s");

    [Fact]
    public void A_worker_that_forges_its_results_counter_is_reported_and_dropped_and_its_reader_ends_cleanly()
    {
        var h = Start(poolCapacity: 4);
        var job = Guid.NewGuid();
        Assert.Null(h.Link.SendOrder(new WorkOrder(WorkKind.Shards, job, 1, 1, 0, 0, [0, 1])));
        Assert.True(h.Worker.TryPostResult(Result(job, 0)));
        Assert.True(h.Worker.TryPostResult(Result(job, 1)));
        WaitFor(() => h.Events.Delivered == 2);

        Forge(h.Mailbox, ResultsWritten, 2 + 1000);
        WaitFor(() => h.Events.Reports.Count == 4);
        const string violation = "the result ring's written counter is out of bounds (1002 written, 2 read, 64 slots)";
        Assert.Equal(["delivered 0", "delivered 1", $"violated: {violation}", $"lost: its mailbox closed: {violation}"], h.Events.Reports);
        Assert.True(h.Worker.IsClosed);
        h.Link.Dispose();
        h.Worker.Dispose();
        h.Weights.Dispose();
    }

    [Fact]
    public void A_worker_that_posts_more_results_than_it_was_sent_items_is_dropped_and_the_pool_stays_bounded()
    {
        var h = Start(poolCapacity: 2);
        var job = Guid.NewGuid();
        Assert.Null(h.Link.SendOrder(new WorkOrder(WorkKind.Shards, job, 1, 1, 0, 0, [2, 3])));
        int posted = 0;
        while (posted < SharedMailbox.Slots && h.Worker.TryPostResult(Result(job, posted % 4))) posted++;
        WaitFor(() => h.Events.Reports.Any(r => r.StartsWith("lost: ", StringComparison.Ordinal)));
        Assert.Equal(2, h.Events.Delivered); // the two it was asked for, nothing after
        Assert.Equal(["delivered 0", "delivered 1", "violated: it posted more results than it was sent items",
            "lost: its mailbox closed: it posted more results than it was sent items"], h.Events.Reports);
        Assert.True(h.Worker.IsClosed);
        Assert.InRange(h.Pool.Spares, 0, h.Pool.Capacity);
        h.Link.Dispose();
        h.Worker.Dispose();
        h.Weights.Dispose();
    }

    [Fact]
    public void The_gradient_pool_keeps_at_most_its_capacity_of_spares_however_many_are_returned()
    {
        var pool = new GradientBufferPool(16, capacity: 4);
        var first = Enumerable.Range(0, 4).Select(_ => pool.Rent()).ToArray();
        foreach (var b in first) pool.Return(b);
        Parallel.For(0, 10_000, _ => pool.Return(new float[16])); // a flood of returns, from several threads
        pool.Return(new float[15]); // another length: not taken
        pool.Return(null);
        Assert.Equal(4, pool.Spares);
        var again = Enumerable.Range(0, 4).Select(_ => pool.Rent()).ToArray();
        Assert.True(first.ToHashSet(ReferenceEqualityComparer.Instance).SetEquals(again)); // the spares it kept are the first ones
        Assert.Equal(0, pool.Spares);
        var fresh = pool.Rent();
        Assert.DoesNotContain(again, b => ReferenceEquals(b, fresh)); // empty: a new buffer
    }
}
