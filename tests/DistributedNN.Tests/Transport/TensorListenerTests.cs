using System.Collections.Concurrent;
using System.Net;
using DistributedNN.Transport;
using static DistributedNN.Tests.Transport.TransportTestKit;

namespace DistributedNN.Tests.Transport;

[Trait(TestTiers.Category, TestTiers.Integration)]
public sealed class TensorListenerTests
{
    [Fact]
    public async Task Each_connection_is_handed_over_as_a_channel_and_disposing_the_listener_closes_them()
    {
        const int clients = 4;
        var accepted = new ConcurrentBag<TensorChannel>();
        var allAccepted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var errors = new ConcurrentQueue<Exception>();
        var listener = new TensorListener(IPAddress.Loopback, 0, channel =>
        {
            accepted.Add(channel);
            if (accepted.Count == clients) allAccepted.TrySetResult();
            return Task.CompletedTask;
        }, onError: errors.Enqueue);
        Assert.Equal(IPAddress.Loopback, listener.LocalEndPoint.Address);
        Assert.NotEqual(0, listener.LocalEndPoint.Port);

        var channels = new List<TensorChannel>();
        var loops = new List<Task>();
        try
        {
            for (int i = 0; i < clients; i++)
            {
                var channel = await TensorChannel.ConnectAsync(listener.LocalEndPoint, CancellationToken.None).WaitAsync(WaitLimit);
                channels.Add(channel);
                loops.Add(channel.ReceiveLoopAsync(new QueueSink()));
            }
            await allAccepted.Task.WaitAsync(WaitLimit);
            Assert.Equal(clients, listener.AcceptedCount);
            Assert.Equal(
                channels.Select(c => c.LocalEndPoint).OrderBy(e => e.Port),
                accepted.Select(c => c.RemoteEndPoint).OrderBy(e => e.Port));

            await listener.DisposeAsync();
            Assert.All(accepted, c => Assert.True(c.IsClosed));
            await Task.WhenAll(loops).WaitAsync(WaitLimit); // every client saw its connection end
            Assert.Empty(errors);
        }
        finally
        {
            foreach (var channel in channels) await channel.DisposeAsync();
            await listener.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_failing_callback_is_reported_and_the_listener_keeps_accepting()
    {
        var reported = new TaskCompletionSource<Exception>(TaskCreationOptions.RunContinuationsAsynchronously);
        var second = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int calls = 0;
        await using var listener = new TensorListener(IPAddress.Loopback, 0, _ =>
        {
            if (Interlocked.Increment(ref calls) == 1) throw new InvalidOperationException("boom");
            second.TrySetResult();
            return Task.CompletedTask;
        }, onError: e => reported.TrySetResult(e));

        await using var a = await TensorChannel.ConnectAsync(listener.LocalEndPoint, CancellationToken.None).WaitAsync(WaitLimit);
        Assert.Equal("boom", (await reported.Task.WaitAsync(WaitLimit)).Message);
        await using var b = await TensorChannel.ConnectAsync(listener.LocalEndPoint, CancellationToken.None).WaitAsync(WaitLimit);
        await second.Task.WaitAsync(WaitLimit);
    }
}
