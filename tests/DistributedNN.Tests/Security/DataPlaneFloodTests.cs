using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using DistributedNN.Transport;
using DistributedNN.Tests.Transport;
using static DistributedNN.Tests.Transport.TransportTestKit;

namespace DistributedNN.Tests.Security;

/// <summary>
/// Strangers opening connections to a data-plane listener (<see cref="ListenerLimits"/>): beyond the caps a connection is
/// reset at once; a silent one holds its place only until the handshake deadline; the log gets a bounded number of lines;
/// a real client gets in once a place is free.
/// </summary>
[Trait(TestTiers.Category, TestTiers.Integration)]
public sealed class DataPlaneFloodTests
{
    private static readonly TimeSpan HandshakeDeadline = TimeSpan.FromSeconds(5);
    private readonly byte[] _token = TensorHandshake.NewToken();
    private readonly ConcurrentQueue<Exception> _reports = new();

    private TensorListener Listen(ListenerLimits limits) => new(IPAddress.Loopback, 0, channel => channel.ReceiveLoopAsync(new QueueSink()),
        TensorChannelOptions.Default with { AccessToken = _token, HandshakeTimeout = HandshakeDeadline }, _reports.Enqueue, limits);

    private Task<TensorChannel> Client(TensorListener listener) =>
        TensorChannel.ConnectAsync(listener.LocalEndPoint, TensorChannelOptions.Default with { AccessToken = _token }, CancellationToken.None).WaitAsync(WaitLimit);

    [Fact]
    public async Task A_flood_of_silent_connections_is_reset_beyond_the_cap_dropped_at_the_handshake_deadline_and_a_real_client_gets_in_after()
    {
        var limits = new ListenerLimits { MaxHandshakes = 4, MaxConnections = 8, ReportsPerWindow = 5, ReportWindow = TimeSpan.FromMinutes(10) };
        await using var listener = Listen(limits);
        var silent = new List<(TcpClient Client, Stopwatch Since, Task<int> Closed)>();
        var extra = new List<TcpClient>();
        try
        {
            for (int i = 0; i < 4; i++)
            {
                var client = new TcpClient();
                // timed from before the connect: the listener may accept it (and start its deadline) before this await
                // resumes, which on a loaded machine can be seconds later
                var since = Stopwatch.StartNew();
                await client.ConnectAsync(listener.LocalEndPoint).WaitAsync(WaitLimit);
                silent.Add((client, since, ClosedAsync(client)));
            }
            await Until(() => listener.HandshakesInProgress == 4);

            // the places are taken: 20 more are reset at once, unread, while the silent ones still hold theirs
            for (int i = 0; i < 20; i++)
            {
                var client = new TcpClient();
                extra.Add(client);
                try
                {
                    await client.ConnectAsync(listener.LocalEndPoint).WaitAsync(WaitLimit);
                }
                catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
                {
                    continue; // reset before the connect completed here
                }
                await ClosedAsync(client).WaitAsync(WaitLimit);
            }
            Assert.All(silent, s => Assert.False(s.Closed.IsCompleted, "a silent connection was dropped before its handshake deadline"));
            Assert.Equal(20, listener.RefusedCount);

            // so is a real client, while the flood holds every place
            await AssertRefused(() => Client(listener));

            // the silent ones are dropped at the deadline, not before
            foreach (var (_, since, closed) in silent)
            {
                await closed.WaitAsync(WaitLimit);
                Assert.True(since.Elapsed >= HandshakeDeadline - TimeSpan.FromMilliseconds(50), $"dropped after {since.Elapsed}");
            }
            await Until(() => listener.HandshakesInProgress == 0);
            await using var real = await Client(listener);
            await Until(() => listener.AcceptedCount == 1);

            // 25 refusals and timeouts, 5 lines in the log (the rest will be one line when the window ends)
            Assert.Equal(5, _reports.Count);
            Assert.Contains("(the limit)", _reports.First().Message);
        }
        finally
        {
            foreach (var (client, _, _) in silent) client.Dispose();
            foreach (var client in extra) client.Dispose();
        }
    }

    [Fact]
    public async Task Accepted_connections_count_against_the_connection_cap_until_they_close()
    {
        await using var listener = Listen(new ListenerLimits { MaxHandshakes = 2, MaxConnections = 2 });
        var first = await Client(listener);
        await using var second = await Client(listener);
        await Until(() => listener.AcceptedCount == 2 && listener.HandshakesInProgress == 0);

        await AssertRefused(() => Client(listener));
        Assert.Equal(1, listener.RefusedCount);
        await Until(() => _reports.Any(r => r.Message.Contains("it holds 2 connections already (the limit)")));

        await first.DisposeAsync(); // its place is free once the listener's end has seen it close
        await Until(() => listener.ConnectionsHeld == 1);
        await using var third = await Client(listener);
        await Until(() => listener.AcceptedCount == 3);
    }

    /// <summary>A reset during the connect, or a connection closed during the handshake.</summary>
    private static async Task AssertRefused(Func<Task> connect)
    {
        var e = await Record.ExceptionAsync(connect);
        // the reset reaches the client at its connect, as a socket no longer connected right after it, or at its first
        // write (an IOException around it): whichever, no channel
        static bool Reset(Exception? x) => x is SocketException { SocketErrorCode: SocketError.ConnectionReset or SocketError.NotConnected };
        Assert.True(e is TensorAuthenticationException || Reset(e) || (e is IOException && Reset(e.InnerException)), $"not refused: {e}");
    }

    /// <summary>Completes with 0 when the listener closes or resets the connection.</summary>
    private static async Task<int> ClosedAsync(TcpClient client)
    {
        try
        {
            return await client.GetStream().ReadAsync(new byte[16]);
        }
        catch (IOException)
        {
            return 0; // reset
        }
    }

    private static async Task Until(Func<bool> condition)
    {
        using var limit = new CancellationTokenSource(WaitLimit);
        while (!condition()) await Task.Delay(10, limit.Token);
    }
}
