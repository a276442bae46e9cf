using System.Diagnostics;
using System.Net.Sockets;
using Akka.Actor;
using DistributedNN.Protocol;
using DistributedNN.Tests.Distributed;
using DistributedNN.Transport;
using static DistributedNN.Tests.Transport.TransportTestKit;

namespace DistributedNN.Tests.Transport;

/// <summary>
/// The deadlines after the handshake (<see cref="TensorChannelOptions.StallTimeout"/>): a peer that stops reading, or
/// stops sending in the middle of a frame, is dropped at the deadline; a connection idle between frames, or a frame that
/// arrives slowly but steadily, is not; and a coordinator's sends to a stalled worker hold up no other worker.
/// </summary>
[Trait(TestTiers.Category, TestTiers.Integration)]
public sealed class StalledPeerTests
{
    private static readonly TimeSpan Stall = TimeSpan.FromSeconds(1.5);
    private static TensorChannelOptions Watched => TensorChannelOptions.Default with { StallTimeout = Stall };

    [Fact]
    public async Task A_peer_that_stops_reading_is_dropped_when_a_frame_to_it_makes_no_progress_for_the_stall_timeout()
    {
        await using var peer = await ConnectRawAsync(Watched); // the raw peer never reads
        var frame = new float[16 << 20]; // 64 MB: more than the kernel buffers between the two ends
        var clock = Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<IOException>(() => peer.Server.SendAsync(Header(TensorKind.Weights, frame.Length), frame).AsTask().WaitAsync(WaitLimit));
        Assert.True(clock.Elapsed >= Stall, $"dropped after {clock.Elapsed}, before the stall timeout");
        Assert.Equal($"dropped the connection to {peer.Server.RemoteEndPoint}: a frame to it made no progress for 1.5 s (the peer stopped reading)", e.Message);
        Assert.True(peer.Server.IsClosed);
    }

    [Theory]
    [InlineData(20)] // part of a header
    [InlineData(TensorFrame.HeaderSize + 100)] // a header and part of its payload
    public async Task A_frame_that_stops_arriving_part_way_is_dropped_at_the_stall_timeout(int bytes)
    {
        await using var peer = await ConnectRawAsync(Watched);
        Task loop = peer.Server.ReceiveLoopAsync(new QueueSink());
        byte[] frame = [.. HeaderBytes(Header(TensorKind.Weights, 1000)), .. new byte[4000]];
        var clock = Stopwatch.StartNew();
        await peer.SendAsync(frame[..bytes]);
        var e = await Assert.ThrowsAsync<IOException>(() => loop.WaitAsync(WaitLimit));
        Assert.True(clock.Elapsed >= Stall, $"dropped after {clock.Elapsed}, before the stall timeout");
        Assert.Contains("a frame from it stopped arriving part-way (nothing for 1.5 s)", e.Message);
        await peer.WaitForCloseAsync();
    }

    [Fact]
    public async Task A_connection_idle_between_frames_for_longer_than_the_stall_timeout_stays_open()
    {
        await using var pair = await ConnectPairAsync(Watched, Watched);
        var serverSink = new QueueSink();
        var clientSink = new QueueSink();
        Task serverLoop = pair.Server.ReceiveLoopAsync(serverSink);
        Task clientLoop = pair.Client.ReceiveLoopAsync(clientSink);
        await pair.Client.SendAsync(Header(TensorKind.ShardGradient, 10, shard: 0), Pattern(10, 1));
        await serverSink.NextAsync();

        await Task.Delay(3 * Stall); // the condition under test: idle, as a link is between steps

        var weights = Pattern(1000, 2);
        await pair.Server.SendAsync(Header(TensorKind.Weights, weights.Length), weights);
        var arrived = await clientSink.NextAsync();
        AssertBitsEqual(weights, arrived.Payload);
        await pair.Client.SendAsync(Header(TensorKind.ShardGradient, 10, shard: 1), Pattern(10, 3));
        Assert.Equal(1, (await serverSink.NextAsync()).Header.Shard);
        Assert.False(pair.Server.IsClosed || pair.Client.IsClosed || serverLoop.IsCompleted || clientLoop.IsCompleted);
    }

    [Fact]
    public async Task A_frame_that_arrives_slowly_but_steadily_is_not_dropped_whatever_it_takes_in_all()
    {
        var stall = TimeSpan.FromSeconds(4);
        await using var peer = await ConnectRawAsync(TensorChannelOptions.Default with { StallTimeout = stall });
        var sink = new QueueSink();
        _ = peer.Server.ReceiveLoopAsync(sink);
        var payload = Pattern(1000, 4);
        byte[] frame = [.. HeaderBytes(Header(TensorKind.Weights, payload.Length)), .. System.Runtime.InteropServices.MemoryMarshal.AsBytes(payload.AsSpan())];
        // in 12 pieces an eighth of the stall timeout apart: longer than the stall timeout in all, never that long without a byte
        int piece = (frame.Length + 11) / 12;
        for (int offset = 0; offset < frame.Length; offset += piece)
        {
            if (offset > 0) await Task.Delay(stall / 8);
            await peer.SendAsync(frame[offset..Math.Min(frame.Length, offset + piece)]);
        }
        var arrived = await sink.NextAsync();
        AssertBitsEqual(payload, arrived.Payload);
        Assert.False(peer.Server.IsClosed);
    }

    [Fact]
    public async Task A_send_to_a_worker_that_stopped_reading_holds_up_no_other_worker_and_its_link_is_lost_at_the_stall_timeout()
    {
        const int parameters = 4_000_000; // 16 MB of weights: more than the kernel buffers between the two ends
        var stall = TimeSpan.FromSeconds(5);
        var events = new LostLinks();
        var settings = new LinkSettings(Guid.NewGuid(), parameters, 2, 4, StallTimeout: stall);
        using var transport = CoordinatorTransport.Create(TransportKind.Tcp, settings, new GradientBufferPool(parameters, capacity: 8), events, ActorRefs.Nobody);
        using var stalled = new StalledDataPlane();
        await using var healthy = FrameCollector.Listen();
        var toStalled = await transport.OpenAsync(new WorkerContact(ActorRefs.Nobody, "127.0.0.1", stalled.Port, stalled.Token), CancellationToken.None);
        var toHealthy = await transport.OpenAsync(new WorkerContact(ActorRefs.Nobody, "127.0.0.1", healthy.Port, null), CancellationToken.None);

        var weights = Pattern(parameters, 5);
        var clock = Stopwatch.StartNew();
        toStalled.SendWeights(0, 0, weights);
        toHealthy.SendWeights(0, 0, weights);
        AssertBitsEqual(weights, healthy.Next(TensorKind.Weights).Payload);
        Assert.False(toStalled.Flushed.IsCompleted, "the stalled worker's frame cannot have left"); // and it held nobody up

        var (link, reason) = await events.First.WaitAsync(WaitLimit);
        Assert.Same(toStalled, link);
        Assert.True(clock.Elapsed >= stall, $"lost after {clock.Elapsed}, before the stall timeout");
        Assert.Contains("made no progress for 5 s (the peer stopped reading)", reason);
        await toStalled.Flushed.WaitAsync(WaitLimit); // the weights are let go: the optimizer may rewrite them
        await toHealthy.Flushed.WaitAsync(WaitLimit);
    }

    private sealed class LostLinks : IWorkerLinkEvents
    {
        private readonly TaskCompletionSource<(IWorkerLink, string)> _first = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public Task<(IWorkerLink Link, string Reason)> First => _first.Task;
        public void Delivered(IWorkerLink link, WorkResult result, float[]? gradient) { }
        public void Violated(IWorkerLink link, string reason) { }
        public void Lost(IWorkerLink link, string reason) => _first.TrySetResult((link, reason));
    }
}
