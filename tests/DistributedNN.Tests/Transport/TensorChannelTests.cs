using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using DistributedNN.Transport;
using static DistributedNN.Tests.Transport.TransportTestKit;

namespace DistributedNN.Tests.Transport;

[Trait(TestTiers.Category, TestTiers.Integration)]
public sealed class TensorChannelTests
{
    private static float[] AwkwardValues()
    {
        var values = Pattern(10_000, seed: 1);
        var bits = MemoryMarshal.Cast<float, int>(values.AsSpan());
        bits[0] = unchecked((int)0x80000000); // −0
        bits[1] = 0x7FC12345;                 // quiet NaN with a payload
        bits[2] = 0x7F800001;                 // signalling NaN
        bits[3] = unchecked((int)0xFFC00001); // negative NaN
        bits[4] = 0x7F800000;                 // +∞
        bits[5] = 0x00000001;                 // the smallest subnormal
        return values;
    }

    [Fact]
    public async Task A_sink_not_ready_for_a_frame_holds_it_until_it_is_then_reads_it_whole()
    {
        await using var pair = await ConnectPairAsync();
        var asked = new TaskCompletionSource<TensorHeader>(TaskCreationOptions.RunContinuationsAsynchronously);
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var sink = new QueueSink
        {
            Ready = h =>
            {
                asked.TrySetResult(h);
                return new ValueTask(ready.Task); // e.g. a slice owner waiting for the layout a member's frame names
            },
        };
        using var cts = new CancellationTokenSource();
        Task loop = pair.Server.ReceiveLoopAsync(sink, cts.Token);
        var payload = AwkwardValues();
        var header = Header(TensorKind.ShardGradient, payload.Length, step: 7, version: 6, shard: 1);
        await pair.Client.SendAsync(header, payload).AsTask().WaitAsync(WaitLimit);

        Assert.Equal(header, await asked.Task.WaitAsync(WaitLimit));
        Assert.Equal(0, sink.DestinationRequests); // held before any destination is asked for
        Assert.False(sink.TryTake(out _));
        Assert.False(loop.IsCompleted);

        ready.SetResult();
        var got = await sink.NextAsync();
        Assert.Equal(header, got.Header);
        AssertBitsEqual(payload, got.Payload);
        cts.Cancel();
    }

    [Fact]
    public async Task Weights_and_gradient_frames_cross_one_connection_in_both_directions_bit_for_bit()
    {
        await using var pair = await ConnectPairAsync();
        var serverSink = new QueueSink();
        var clientSink = new QueueSink();
        using var cts = new CancellationTokenSource();
        Task serverLoop = pair.Server.ReceiveLoopAsync(serverSink, cts.Token);
        Task clientLoop = pair.Client.ReceiveLoopAsync(clientSink, cts.Token);

        var weights = AwkwardValues();
        var gradient = Pattern(7_777, seed: 2);
        MemoryMarshal.Cast<float, int>(gradient.AsSpan())[0] = unchecked((int)0x80000000);
        var weightsHeader = Header(TensorKind.Weights, weights.Length, step: 41, version: 40);
        var gradientHeader = Header(TensorKind.ShardGradient, gradient.Length, step: 41, version: 40, shard: 5);

        await Task.WhenAll(
            pair.Client.SendAsync(weightsHeader, weights).AsTask(),
            pair.Server.SendAsync(gradientHeader, gradient).AsTask()).WaitAsync(WaitLimit);
        // and the other way round on the same connection
        await Task.WhenAll(
            pair.Server.SendAsync(weightsHeader, weights).AsTask(),
            pair.Client.SendAsync(gradientHeader, gradient).AsTask()).WaitAsync(WaitLimit);

        var atServer1 = await serverSink.NextAsync();
        var atServer2 = await serverSink.NextAsync();
        var atClient1 = await clientSink.NextAsync();
        var atClient2 = await clientSink.NextAsync();

        Assert.Equal(weightsHeader, atServer1.Header);
        AssertBitsEqual(weights, atServer1.Payload);
        Assert.Equal(gradientHeader, atServer2.Header);
        AssertBitsEqual(gradient, atServer2.Payload);
        Assert.Equal(gradientHeader, atClient1.Header);
        AssertBitsEqual(gradient, atClient1.Payload);
        Assert.Equal(weightsHeader, atClient2.Header);
        AssertBitsEqual(weights, atClient2.Payload);

        long bytes = 4L * (weights.Length + gradient.Length);
        Assert.Equal(bytes, pair.Client.BytesSent);
        Assert.Equal(bytes, pair.Client.BytesReceived);
        Assert.Equal(bytes, pair.Server.BytesSent);
        Assert.Equal(bytes, pair.Server.BytesReceived);
        Assert.Equal(2, pair.Client.FramesSent);
        Assert.Equal(2, pair.Server.FramesReceived);
        Assert.Equal(pair.Client.LocalEndPoint, pair.Server.RemoteEndPoint);
        Assert.Equal(pair.Listener.LocalEndPoint, pair.Client.RemoteEndPoint);

        // the client leaves between frames: the server's loop ends normally, the client's too (disposed locally)
        await pair.Client.DisposeAsync();
        await serverLoop.WaitAsync(WaitLimit);
        await clientLoop.WaitAsync(WaitLimit);
    }

    [Fact]
    public async Task A_payload_of_ten_and_a_half_million_floats_round_trips_exactly()
    {
        const int count = 10_500_000;
        await using var pair = await ConnectPairAsync(TensorChannelOptions.ForModel(count), TensorChannelOptions.ForModel(count));
        var values = Pattern(count, seed: 3);
        var header = Header(TensorKind.Weights, count);

        // the server echoes what it gets as a gradient
        var echoed = new TaskCompletionSource<float[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        var serverSink = new QueueSink();
        var clientSink = new QueueSink();
        Task serverLoop = pair.Server.ReceiveLoopAsync(serverSink);
        Task clientLoop = pair.Client.ReceiveLoopAsync(clientSink);

        await pair.Client.SendAsync(header, values).AsTask().WaitAsync(WaitLimit);
        var atServer = await serverSink.NextAsync();
        AssertBitsEqual(values, atServer.Payload);
        var back = header with { Kind = TensorKind.ShardGradient, Shard = 0 };
        await pair.Server.SendAsync(back, atServer.Payload).AsTask().WaitAsync(WaitLimit);
        var atClient = await clientSink.NextAsync();
        Assert.Equal(back, atClient.Header);
        AssertBitsEqual(values, atClient.Payload);
        Assert.Equal(4L * count, pair.Server.BytesReceived);
        Assert.Equal(4L * count, pair.Client.BytesReceived);

        await pair.Server.DisposeAsync();
        await Task.WhenAll(serverLoop, clientLoop).WaitAsync(WaitLimit);
    }

    [Fact]
    public async Task A_zero_length_payload_arrives_as_an_empty_frame_and_the_next_frame_follows()
    {
        await using var pair = await ConnectPairAsync();
        var sink = new QueueSink();
        Task loop = pair.Server.ReceiveLoopAsync(sink);

        var empty = Header(TensorKind.ShardGradient, 0, shard: 0);
        var next = Header(TensorKind.Weights, 3, step: 8);
        await pair.Client.SendAsync(empty, ReadOnlyMemory<float>.Empty);
        await pair.Client.SendAsync(next, new float[] { 1, 2, 3 });

        var first = await sink.NextAsync();
        Assert.Equal(empty, first.Header);
        Assert.Empty(first.Payload);
        var second = await sink.NextAsync();
        Assert.Equal(next, second.Header);
        Assert.Equal([1f, 2f, 3f], second.Payload);
        Assert.Equal(12, pair.Server.BytesReceived);

        await pair.Client.DisposeAsync();
        await loop.WaitAsync(WaitLimit);
    }

    [Fact]
    public async Task Many_concurrent_senders_on_one_channel_produce_intact_frames()
    {
        const int senders = 8, framesEach = 25;
        await using var pair = await ConnectPairAsync();
        var problems = new ConcurrentQueue<string>();
        var seen = new ConcurrentDictionary<long, bool>();
        var all = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var sink = new CheckingSink((header, payload) =>
        {
            // each frame's content is a function of its step: any interleaving breaks it
            var expected = Pattern(header.Count, seed: (int)header.Step);
            if (!MemoryMarshal.Cast<float, int>(expected.AsSpan()).SequenceEqual(MemoryMarshal.Cast<float, int>(payload.Span)))
                problems.Enqueue($"frame of step {header.Step} is corrupt");
            if (!seen.TryAdd(header.Step, true)) problems.Enqueue($"step {header.Step} twice");
            if (seen.Count == senders * framesEach) all.TrySetResult();
        });
        Task loop = pair.Server.ReceiveLoopAsync(sink);

        var sends = Enumerable.Range(0, senders).Select(s => Task.Run(async () =>
        {
            for (int i = 0; i < framesEach; i++)
            {
                long step = s * 1000 + i;
                int count = 1 + (int)(step * 7919 % 150_000); // 4 bytes … 600 KB, so socket writes split
                await pair.Client.SendAsync(Header(TensorKind.ShardGradient, count, step: step, shard: s), Pattern(count, (int)step));
            }
        })).ToArray();
        await Task.WhenAll(sends).WaitAsync(WaitLimit);
        await all.Task.WaitAsync(WaitLimit);

        Assert.Empty(problems);
        Assert.Equal(senders * framesEach, pair.Server.FramesReceived);
        Assert.Equal(pair.Client.BytesSent, pair.Server.BytesReceived);

        await pair.Client.DisposeAsync();
        await loop.WaitAsync(WaitLimit);
    }

    [Fact]
    public async Task A_frame_with_a_bad_magic_is_rejected_and_the_connection_closed()
    {
        await using var peer = await ConnectRawAsync();
        var sink = new QueueSink();
        Task loop = peer.Server.ReceiveLoopAsync(sink);
        var bytes = HeaderBytes(Header(TensorKind.Weights, 4));
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, 0x50545448); // "HTTP"
        await peer.SendAsync(bytes);

        var e = await Assert.ThrowsAsync<TensorProtocolException>(() => loop.WaitAsync(WaitLimit));
        Assert.Contains("not a tensor frame: magic 0x50545448, expected 0x544E4E44", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        Assert.Equal(0, sink.DestinationRequests);
        Assert.True(peer.Server.IsClosed);
        await peer.WaitForCloseAsync();
    }

    [Theory]
    [InlineData(0)]
    [InlineData(13)]
    [InlineData(255)]
    public async Task A_frame_of_an_unknown_kind_is_rejected(byte kind)
    {
        await using var peer = await ConnectRawAsync();
        var sink = new QueueSink();
        Task loop = peer.Server.ReceiveLoopAsync(sink);
        var bytes = HeaderBytes(Header(TensorKind.Weights, 4));
        bytes[5] = kind;
        await peer.SendAsync(bytes);

        var e = await Assert.ThrowsAsync<TensorProtocolException>(() => loop.WaitAsync(WaitLimit));
        Assert.Contains($"unknown tensor kind {kind}", e.Message);
        Assert.Equal(0, sink.DestinationRequests);
    }

    [Fact]
    public async Task Another_format_version_is_rejected_by_number()
    {
        await using var peer = await ConnectRawAsync();
        Task loop = peer.Server.ReceiveLoopAsync(new QueueSink());
        var bytes = HeaderBytes(Header(TensorKind.Weights, 4));
        bytes[4] = 2;
        await peer.SendAsync(bytes);

        var e = await Assert.ThrowsAsync<TensorProtocolException>(() => loop.WaitAsync(WaitLimit));
        Assert.Contains("tensor frame format version 2 is not supported (this build reads version 1)", e.Message);
    }

    [Theory]
    [InlineData(int.MaxValue)]
    [InlineData(1001)]
    public async Task A_count_over_the_limit_is_rejected_before_any_payload_is_read_or_requested(int count)
    {
        await using var peer = await ConnectRawAsync(TensorChannelOptions.ForModel(1000));
        var sink = new QueueSink();
        Task loop = peer.Server.ReceiveLoopAsync(sink);
        // only the header is sent and the connection stays open: a receiver that tried to read the payload would hang
        await peer.SendAsync(HeaderBytes(Header(TensorKind.Weights, count)));

        var e = await Assert.ThrowsAsync<TensorProtocolException>(() => loop.WaitAsync(WaitLimit));
        Assert.Contains($"a frame of {count} floats exceeds the limit of 1000", e.Message);
        Assert.Equal(0, sink.DestinationRequests);
        Assert.Equal(0, peer.Server.BytesReceived);
        await peer.WaitForCloseAsync();
    }

    [Fact]
    public async Task A_negative_count_is_rejected()
    {
        await using var peer = await ConnectRawAsync();
        var sink = new QueueSink();
        Task loop = peer.Server.ReceiveLoopAsync(sink);
        var bytes = HeaderBytes(Header(TensorKind.Weights, 4));
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(44), -4);
        await peer.SendAsync(bytes);

        var e = await Assert.ThrowsAsync<TensorProtocolException>(() => loop.WaitAsync(WaitLimit));
        Assert.Contains("negative float count -4", e.Message);
        Assert.Equal(0, sink.DestinationRequests);
    }

    [Fact]
    public async Task A_refused_frame_is_skipped_and_the_following_frame_arrives_intact()
    {
        await using var pair = await ConnectPairAsync();
        var sink = new QueueSink { Accept = h => h.Step >= 10 }; // steps before 10 are stale
        Task loop = pair.Server.ReceiveLoopAsync(sink);

        var stale = Pattern(300_000, seed: 4); // bigger than the 64 KB discard scratch buffer many times over
        var fresh = Pattern(1_234, seed: 5);
        await pair.Client.SendAsync(Header(TensorKind.ShardGradient, stale.Length, step: 9, shard: 1), stale);
        await pair.Client.SendAsync(Header(TensorKind.ShardGradient, fresh.Length, step: 10, shard: 1), fresh);

        var frame = await sink.NextAsync();
        Assert.Equal(10, frame.Header.Step);
        AssertBitsEqual(fresh, frame.Payload);
        Assert.Equal(1, pair.Server.FramesDiscarded);
        Assert.Equal(1, pair.Server.FramesReceived);
        Assert.Equal(4L * (stale.Length + fresh.Length), pair.Server.BytesReceived);
        Assert.False(sink.TryTake(out _));

        await pair.Client.DisposeAsync();
        await loop.WaitAsync(WaitLimit);
    }

    [Fact]
    public async Task A_peer_that_closes_in_the_middle_of_the_payload_ends_the_loop_with_an_end_of_stream_error()
    {
        await using var peer = await ConnectRawAsync();
        var sink = new QueueSink();
        Task loop = peer.Server.ReceiveLoopAsync(sink);
        await peer.SendAsync([.. HeaderBytes(Header(TensorKind.Weights, 1000)), .. new byte[100]]);
        peer.Socket.Shutdown(System.Net.Sockets.SocketShutdown.Both);
        peer.Socket.Close();

        var e = await Assert.ThrowsAsync<EndOfStreamException>(() => loop.WaitAsync(WaitLimit));
        Assert.Equal("connection closed in the middle of a frame: got 100 of 4000 payload bytes", e.Message);
        Assert.Equal(1, sink.DestinationRequests);
        Assert.False(sink.TryTake(out _));
        Assert.True(peer.Server.IsClosed);
    }

    [Fact]
    public async Task A_peer_that_closes_in_the_middle_of_a_header_or_a_discarded_payload_ends_the_loop_too()
    {
        await using (var peer = await ConnectRawAsync())
        {
            Task loop = peer.Server.ReceiveLoopAsync(new QueueSink());
            await peer.SendAsync(HeaderBytes(Header(TensorKind.Weights, 1000))[..20]);
            peer.Socket.Shutdown(System.Net.Sockets.SocketShutdown.Both);
            var e = await Assert.ThrowsAsync<EndOfStreamException>(() => loop.WaitAsync(WaitLimit));
            Assert.Equal("connection closed in the middle of a frame: got 20 of 48 header bytes", e.Message);
        }
        await using (var peer = await ConnectRawAsync())
        {
            Task loop = peer.Server.ReceiveLoopAsync(new QueueSink { Accept = _ => false });
            await peer.SendAsync([.. HeaderBytes(Header(TensorKind.Weights, 100_000)), .. new byte[70_000]]);
            peer.Socket.Shutdown(System.Net.Sockets.SocketShutdown.Both);
            var e = await Assert.ThrowsAsync<EndOfStreamException>(() => loop.WaitAsync(WaitLimit));
            Assert.StartsWith("connection closed in the middle of a frame: got 70000 of 400000 payload bytes", e.Message);
        }
    }

    [Fact]
    public async Task Disposing_a_channel_ends_its_own_receive_loop_and_the_peers_promptly()
    {
        await using var pair = await ConnectPairAsync();
        Task serverLoop = pair.Server.ReceiveLoopAsync(new QueueSink());
        Task clientLoop = pair.Client.ReceiveLoopAsync(new QueueSink());
        await pair.Server.DisposeAsync();
        await serverLoop.WaitAsync(WaitLimit); // normal end: closed locally
        await clientLoop.WaitAsync(WaitLimit); // normal end: the peer closed between frames
        Assert.True(pair.Server.IsClosed);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => pair.Server.SendAsync(Header(TensorKind.Weights, 0), default).AsTask());
    }

    [Fact]
    public async Task Disposing_in_the_middle_of_a_frame_ends_the_receive_loop_without_hanging()
    {
        await using var peer = await ConnectRawAsync();
        var requested = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var sink = new CheckingSink((_, _) => { }) { OnDestination = () => requested.TrySetResult() };
        Task loop = peer.Server.ReceiveLoopAsync(sink);
        await peer.SendAsync([.. HeaderBytes(Header(TensorKind.Weights, 1000)), .. new byte[10]]);
        await requested.Task.WaitAsync(WaitLimit); // the loop now waits for the rest of the payload
        await peer.Server.DisposeAsync();
        await loop.WaitAsync(WaitLimit);
    }

    [Fact]
    public async Task Cancelling_the_receive_loop_ends_it_with_an_operation_cancelled_error()
    {
        await using var pair = await ConnectPairAsync();
        using var cts = new CancellationTokenSource();
        Task loop = pair.Server.ReceiveLoopAsync(new QueueSink(), cts.Token);
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => loop.WaitAsync(WaitLimit));
        Assert.True(pair.Server.IsClosed);
    }

    [Fact]
    public async Task A_destination_of_the_wrong_length_is_reported_as_a_programming_error()
    {
        await using var pair = await ConnectPairAsync();
        var sink = new CheckingSink((_, _) => { }) { DestinationLength = h => h.Count - 1 };
        Task loop = pair.Server.ReceiveLoopAsync(sink);
        await pair.Client.SendAsync(Header(TensorKind.Weights, 10), new float[10]);
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => loop.WaitAsync(WaitLimit));
        Assert.Contains("destination of 9 floats for a frame of 10", e.Message);
        Assert.True(pair.Server.IsClosed);
    }

    [Fact]
    public async Task The_sender_refuses_a_header_that_does_not_match_its_payload()
    {
        await using var pair = await ConnectPairAsync();
        var e = await Assert.ThrowsAsync<ArgumentException>(() => pair.Client.SendAsync(Header(TensorKind.Weights, 5), new float[4]).AsTask());
        Assert.Contains("announces 5 floats but the payload has 4", e.Message);
        await Assert.ThrowsAsync<ArgumentException>(() => pair.Client.SendAsync(Header((TensorKind)13, 1), new float[1]).AsTask());
        await Assert.ThrowsAsync<ArgumentException>(() => pair.Client.SendAsync(Header(TensorKind.ShardGradient, 1, shard: -2), new float[1]).AsTask());
        Assert.False(pair.Client.IsClosed); // nothing was written, the channel is still good
        Assert.Equal(0, pair.Client.FramesSent);
    }

    [Fact]
    public async Task A_channel_runs_one_receive_loop()
    {
        await using var pair = await ConnectPairAsync();
        Task loop = pair.Server.ReceiveLoopAsync(new QueueSink());
        await Assert.ThrowsAsync<InvalidOperationException>(() => pair.Server.ReceiveLoopAsync(new QueueSink()));
        await pair.Server.DisposeAsync();
        await loop.WaitAsync(WaitLimit);
    }

    /// <summary>A sink that hands out fresh arrays (optionally of a chosen length) and calls back on receipt.</summary>
    private sealed class CheckingSink(Action<TensorHeader, Memory<float>> onReceived) : ITensorSink
    {
        public Func<TensorHeader, int> DestinationLength { get; init; } = h => h.Count;
        public Action? OnDestination { get; init; }

        public bool TryGetDestination(in TensorHeader header, out Memory<float> destination)
        {
            destination = new float[DestinationLength(header)];
            OnDestination?.Invoke();
            return true;
        }

        public void Received(in TensorHeader header, Memory<float> payload) => onReceived(header, payload);
    }
}
