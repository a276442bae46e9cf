using System.Collections.Concurrent;
using System.Net;
using DistributedNN.Security;
using DistributedNN.Tests.Transport;
using DistributedNN.Transport;
using static DistributedNN.Tests.Transport.TransportTestKit;

namespace DistributedNN.Tests.Security;

/// <summary>
/// The data plane's opening: mutual TLS with the cluster's certificate, then the access token. Every wrong
/// combination is refused on both ends (the connecting side gets a TensorAuthenticationException, the listener
/// reports one and never hands the connection over); the right one carries frames bit for bit.
/// </summary>
[Trait(TestTiers.Category, TestTiers.Integration)]
public sealed class DataPlaneHandshakeTests : IAsyncLifetime
{
    private readonly ClusterTls _cluster = TlsTestCertificates.Cluster();
    private readonly ClusterTls _stranger = TlsTestCertificates.Stranger();
    private readonly byte[] _token = TensorHandshake.NewToken();
    private readonly ConcurrentQueue<Exception> _refusals = new();
    private readonly ConcurrentQueue<TensorChannel> _accepted = new();
    private TensorListener _listener = null!;

    public Task InitializeAsync()
    {
        _listener = new TensorListener(IPAddress.Loopback, 0, channel =>
        {
            _accepted.Enqueue(channel);
            return Task.CompletedTask;
        }, TensorChannelOptions.ForModel(1000) with { Tls = _cluster, AccessToken = _token }, _refusals.Enqueue);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _listener.DisposeAsync();
        _cluster.Dispose();
        _stranger.Dispose();
    }

    private Task<TensorChannel> Connect(ClusterTls? tls, byte[]? token) =>
        TensorChannel.ConnectAsync(_listener.LocalEndPoint, TensorChannelOptions.ForModel(1000) with { Tls = tls, AccessToken = token }, CancellationToken.None).WaitAsync(WaitLimit);

    private async Task<Exception> Refusal()
    {
        using var limit = new CancellationTokenSource(WaitLimit);
        Exception? refusal;
        while (!_refusals.TryDequeue(out refusal)) await Task.Delay(10, limit.Token);
        return refusal;
    }

    [Fact]
    public async Task Under_TLS_a_frame_crosses_sealed_and_no_stretch_of_it_is_on_the_wire_in_the_clear()
    {
        using var tls = TlsTestCertificates.Cluster();
        using var relay = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0); // the network between the two ends
        relay.Start();
        var wire = new MemoryStream(); // what the connecting side sent, as the network saw it
        var relaying = Task.Run(async () =>
        {
            using var inbound = await relay.AcceptTcpClientAsync();
            using var outbound = new System.Net.Sockets.TcpClient();
            await outbound.ConnectAsync(_listener.LocalEndPoint);
            await Task.WhenAny(Pump(inbound.GetStream(), outbound.GetStream(), wire), Pump(outbound.GetStream(), inbound.GetStream(), null));
        });
        await using var client = await TensorChannel.ConnectAsync((IPEndPoint)relay.LocalEndpoint,
            TensorChannelOptions.ForModel(1000) with { Tls = tls, AccessToken = _token }, CancellationToken.None).WaitAsync(WaitLimit);
        using var limit = new CancellationTokenSource(WaitLimit);
        TensorChannel? server;
        while (!_accepted.TryDequeue(out server)) await Task.Delay(10, limit.Token);
        await using var _ = server;
        var sink = new QueueSink();
        var loop = server.ReceiveLoopAsync(sink);

        var payload = Pattern(1000, seed: 3);
        var header = Header(TensorKind.ShardGradient, payload.Length, shard: 2);
        await client.SendAsync(header, payload).AsTask().WaitAsync(WaitLimit);
        var got = await sink.NextAsync();
        Assert.Equal(header, got.Header);
        AssertBitsEqual(payload, got.Payload);

        byte[] sent;
        lock (wire) sent = wire.ToArray();
        Assert.Equal(0x16, sent[0]); // the connection opens with a TLS handshake record
        var plain = System.Runtime.InteropServices.MemoryMarshal.AsBytes(payload.AsSpan());
        for (int at = 0; at + 32 <= plain.Length; at += 32) Assert.Equal(-1, sent.AsSpan().IndexOf(plain.Slice(at, 32)));
        Assert.True(sent.Length > plain.Length + TensorFrame.HeaderSize, "the frame never crossed the relay");
    }

    private static async Task Pump(Stream from, Stream to, MemoryStream? record)
    {
        var buffer = new byte[64 * 1024];
        int n;
        while ((n = await from.ReadAsync(buffer)) > 0)
        {
            if (record is not null) lock (record) record.Write(buffer, 0, n);
            await to.WriteAsync(buffer.AsMemory(0, n));
        }
        to.Close();
    }

    [Fact]
    public async Task The_clusters_certificate_and_the_right_token_are_accepted()
    {
        using var tls = TlsTestCertificates.Cluster(); // loaded again: another node with the same files
        await using var client = await Connect(tls, _token);
        using var limit = new CancellationTokenSource(WaitLimit);
        while (_accepted.IsEmpty) await Task.Delay(10, limit.Token);
        Assert.Empty(_refusals);
        Assert.Equal(1, _listener.AcceptedCount);
    }

    [Fact]
    public async Task Frames_cross_a_TLS_connection_unchanged_in_both_directions()
    {
        var options = TensorChannelOptions.ForModel(100_000) with { Tls = _cluster, AccessToken = _token };
        await using var pair = await ConnectPairAsync(options, options);
        var serverSink = new QueueSink();
        var clientSink = new QueueSink();
        _ = pair.Server.ReceiveLoopAsync(serverSink);
        _ = pair.Client.ReceiveLoopAsync(clientSink);
        var weights = Pattern(100_000, 1);
        var gradient = Pattern(77_777, 2);
        await pair.Server.SendAsync(Header(TensorKind.Weights, weights.Length), weights);
        await pair.Client.SendAsync(Header(TensorKind.ShardGradient, gradient.Length, shard: 3), gradient);
        var toClient = await clientSink.NextAsync();
        AssertBitsEqual(weights, toClient.Payload);
        var received = await serverSink.NextAsync();
        Assert.Equal(3, received.Header.Shard);
        AssertBitsEqual(gradient, received.Payload);
    }

    [Fact]
    public async Task A_client_with_another_certificate_is_refused()
    {
        var e = await Assert.ThrowsAsync<TensorAuthenticationException>(() => Connect(_stranger, _token));
        Assert.Contains("data plane", e.Message);
        var refusal = await Refusal();
        Assert.IsType<TensorAuthenticationException>(refusal);
        Assert.Contains("not trusted", refusal.Message);
        Assert.Empty(_accepted);
    }

    [Fact]
    public async Task A_client_without_TLS_is_refused()
    {
        var e = await Assert.ThrowsAsync<TensorAuthenticationException>(() => Connect(null, _token));
        Assert.Contains("TLS", e.Message);
        Assert.IsType<TensorAuthenticationException>(await Refusal());
        Assert.Empty(_accepted);
    }

    [Fact]
    public async Task A_client_with_the_clusters_certificate_but_the_wrong_token_is_refused()
    {
        var e = await Assert.ThrowsAsync<TensorAuthenticationException>(() => Connect(_cluster, TensorHandshake.NewToken()));
        Assert.Contains("wrong credentials", e.Message);
        Assert.Contains("wrong credentials", (await Refusal()).Message);
        Assert.Empty(_accepted);
    }

    [Fact]
    public async Task A_client_with_the_clusters_certificate_and_no_token_is_refused()
    {
        var e = await Assert.ThrowsAsync<TensorAuthenticationException>(() => Connect(_cluster, null));
        Assert.Contains("wrong credentials", e.Message);
        Assert.Empty(_accepted);
    }

    [Fact]
    public async Task A_coordinator_does_not_send_to_a_listener_whose_certificate_it_does_not_trust()
    {
        // an impostor listening where a worker said it would: it has its own certificate and accepts anyone
        await using var impostor = new TensorListener(IPAddress.Loopback, 0, _ => Task.CompletedTask,
            TensorChannelOptions.Default with { Tls = _stranger });
        var e = await Assert.ThrowsAsync<TensorAuthenticationException>(() =>
            TensorChannel.ConnectAsync(impostor.LocalEndPoint, TensorChannelOptions.Default with { Tls = _cluster, AccessToken = _token }, CancellationToken.None).WaitAsync(WaitLimit));
        Assert.Contains("not trusted", e.Message);
        Assert.Equal(0, impostor.AcceptedCount);
    }

    [Fact]
    public async Task A_plain_listener_with_a_token_refuses_a_client_without_it_and_a_silent_one_times_out()
    {
        var refusals = new ConcurrentQueue<Exception>();
        await using var plain = new TensorListener(IPAddress.Loopback, 0, _ => Task.CompletedTask,
            TensorChannelOptions.Default with { AccessToken = _token, HandshakeTimeout = TimeSpan.FromSeconds(1) }, refusals.Enqueue);
        var e = await Assert.ThrowsAsync<TensorAuthenticationException>(() =>
            TensorChannel.ConnectAsync(plain.LocalEndPoint, TensorChannelOptions.Default, CancellationToken.None).WaitAsync(WaitLimit));
        Assert.Contains("wrong credentials", e.Message);

        using var silent = new System.Net.Sockets.TcpClient();
        await silent.ConnectAsync(plain.LocalEndPoint);
        var buffer = new byte[16];
        int got = await silent.GetStream().ReadAsync(buffer).AsTask().WaitAsync(WaitLimit); // closed by the listener's handshake deadline
        Assert.Equal(0, got);
        await AwaitRefusal(refusals, "within 1 s");
        Assert.Equal(0, plain.AcceptedCount);
    }

    private static async Task AwaitRefusal(ConcurrentQueue<Exception> refusals, string text)
    {
        using var limit = new CancellationTokenSource(WaitLimit);
        while (!refusals.Any(r => r.Message.Contains(text))) await Task.Delay(10, limit.Token);
    }
}
