using DistributedNN.Model;
using DistributedNN.Protocol;
using DistributedNN.Tests.Engine;
using DistributedNN.Transport;

namespace DistributedNN.Tests.Transport;

/// <summary>
/// The shm transport's mailbox between two mappings of one file (as coordinator and worker map it): orders and results
/// arrive whole and in order across the rings' wrap, a full ring refuses, a sleeping reader wakes when the other side
/// posts or closes, and a file of another shape is refused.
/// </summary>
[Collection(KernelPathCollection.Name)] // one test switches Futex to polling for the whole process: nothing else runs meanwhile
public sealed class SharedMailboxTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static WorkOrder Order(Guid job, int i) =>
        new(i % 2 == 0 ? WorkKind.Shards : WorkKind.Evaluation, job, 1000 + i, 2000 + i, i % 7, i % 59, Enumerable.Range(i % 3, 1 + i % 4).ToArray());

    private static WorkResult Result(Guid job, long step, long version, int item, params int[] activity) =>
        new(WorkKind.Shards, job, step, version, item, new BatchStats(0.25 * item, item, 64), 1.5 + item, 235_146, activity);

    [Fact]
    public void Orders_cross_in_order_and_whole_past_the_ring_wrap_and_a_full_ring_refuses()
    {
        string path = _dir.File("mailbox");
        var job = Guid.NewGuid();
        using var coordinator = SharedMailbox.Create(path, layers: 3);
        using var worker = SharedMailbox.Open(path, 3);
        Assert.Null(worker.TryTakeOrder());
        int posted = 0, taken = 0;
        for (int round = 0; round < 5; round++)
        {
            // fill the ring to the brim: one more does not fit until the worker reads
            while (coordinator.TryPostOrder(Order(job, posted))) posted++;
            Assert.Equal(SharedMailbox.Slots, posted - taken);
            for (int i = 0; i < 40; i++, taken++)
            {
                var order = worker.TryTakeOrder();
                Assert.NotNull(order);
                var expected = Order(job, taken);
                Assert.Equal(expected with { Items = order.Items }, order);
                Assert.Equal(expected.Items, order.Items);
            }
        }
        // an order of more items than a slot holds is a programming error (a worker's capacity is capped at WorkCodec.MaxItems)
        Assert.Throws<ArgumentException>(() => coordinator.TryPostOrder(new WorkOrder(WorkKind.Shards, job, 1, 1, 0, 0, new int[WorkCodec.MaxItems + 1])));
        Assert.True(posted > 3 * SharedMailbox.Slots); // the counters wrapped the ring several times
    }

    [Fact]
    public void Results_cross_with_their_activity_counts()
    {
        string path = _dir.File("mailbox");
        var job = Guid.NewGuid();
        using var coordinator = SharedMailbox.Create(path, 3);
        using var worker = SharedMailbox.Open(path, 3);
        Assert.Null(coordinator.TryTakeResult());
        for (int i = 0; i < 150; i++)
        {
            Assert.True(worker.TryPostResult(Result(job, 10 + i, 20 + i, i % 4, i, 2 * i, 3 * i)));
            var r = coordinator.TryTakeResult();
            Assert.NotNull(r);
            Assert.Equal(Result(job, 10 + i, 20 + i, i % 4, r.Activity), r);
            Assert.Equal([i, 2 * i, 3 * i], r.Activity);
        }
        Assert.Null(coordinator.TryTakeResult());
    }

    [Theory]
    [InlineData(false)] // futex (Linux x64/arm64)
    [InlineData(true)]  // the poll other systems use
    public async Task A_sleeping_reader_wakes_when_the_other_side_posts_or_closes(bool poll)
    {
        bool wasPolling = Futex.Poll;
        Futex.Poll = poll || wasPolling;
        try { await WakesOnPostAndClose(); }
        finally { Futex.Poll = wasPolling; }
    }

    private async Task WakesOnPostAndClose()
    {
        string path = _dir.File("mailbox");
        var job = Guid.NewGuid();
        using var coordinator = SharedMailbox.Create(path, 1);
        using var worker = SharedMailbox.Open(path, 1);
        // each wait would last 60 s unless woken; the test allows 20
        var workerSide = Task.Run(() =>
        {
            WorkOrder? order;
            while ((order = worker.TryTakeOrder()) is null) worker.WaitForOrder(60_000);
            Assert.True(worker.TryPostResult(Result(job, order.Step, order.Version, order.Items[0], 6)));
            while (!worker.IsClosed) worker.WaitForOrder(60_000);
        });
        Assert.True(coordinator.TryPostOrder(new WorkOrder(WorkKind.Shards, job, 7, 8, 0, 0, [1])));
        var coordinatorSide = Task.Run(() =>
        {
            WorkResult? r;
            while ((r = coordinator.TryTakeResult()) is null) coordinator.WaitForResult(60_000);
            return r;
        });
        var result = await coordinatorSide.WaitAsync(TimeSpan.FromSeconds(20)); // TimeoutException: the result did not wake the coordinator side
        Assert.Equal((7L, 8L, 1), (result.Step, result.Version, result.Item));
        coordinator.Close();
        await workerSide.WaitAsync(TimeSpan.FromSeconds(20)); // nor closing the worker side
        Assert.False(coordinator.TryPostOrder(new WorkOrder(WorkKind.Shards, job, 9, 9, 0, 0, [0])));
        Assert.False(worker.TryPostResult(Result(job, 9, 9, 0)));
    }

    [Fact]
    public void A_missing_file_or_one_of_another_shape_is_refused_and_the_owner_deletes_it()
    {
        string path = _dir.File("mailbox");
        Assert.Throws<FileNotFoundException>(() => SharedMailbox.Open(path, 3));
        using (SharedMailbox.Create(path, 3))
        {
            if (!OperatingSystem.IsWindows()) Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
            Assert.Throws<IOException>(() => SharedMailbox.Open(path, 4)); // another size
            Assert.Throws<IOException>(() => SharedMailbox.Open(path, 2));
            File.WriteAllBytes(_dir.File("copy"), new byte[new FileInfo(path).Length]);
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(_dir.File("copy"), UnixFileMode.UserRead | UnixFileMode.UserWrite);
            Assert.Equal($"{_dir.File("copy")} is not a mailbox for 3 layers",
                Assert.Throws<IOException>(() => SharedMailbox.Open(_dir.File("copy"), 3)).Message); // no header
        }
        Assert.False(File.Exists(path));
    }
}
