using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Threading.Channels;
using DistributedNN.Transport;

namespace DistributedNN.Tests.Transport;

/// <summary>Shared helpers of the transport tests: a connected channel pair, a recording sink, bit-exact comparison.</summary>
internal static class TransportTestKit
{
    /// <summary>Generous: the tests wait on completions, never on the clock; this only turns a hang into a failure.</summary>
    public static readonly TimeSpan WaitLimit = TimeSpan.FromSeconds(30);

    public static TensorHeader Header(TensorKind kind, int count, long step = 7, long version = 3, int shard = -1, Guid? job = null) =>
        new(job ?? Guid.Parse("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"), step, version, kind, shard, count);

    public static float[] Pattern(int count, int seed)
    {
        var values = new float[count];
        var bits = MemoryMarshal.Cast<float, int>(values.AsSpan());
        uint x = (uint)seed * 2654435761u + 1;
        for (int i = 0; i < bits.Length; i++)
        {
            x ^= x << 13; x ^= x >> 17; x ^= x << 5; // xorshift32: every bit pattern, NaNs included
            bits[i] = (int)x;
        }
        return values;
    }

    public static void AssertBitsEqual(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        var e = MemoryMarshal.Cast<float, int>(expected);
        var a = MemoryMarshal.Cast<float, int>(actual);
        if (e.SequenceEqual(a)) return;
        int i = 0;
        while (e[i] == a[i]) i++;
        Assert.Fail($"float {i} differs: expected bits 0x{e[i]:X8}, got 0x{a[i]:X8}");
    }

    /// <summary>A listener on 127.0.0.1:0 with one accepted channel (Server) and the connecting channel (Client).</summary>
    public static async Task<ChannelPair> ConnectPairAsync(TensorChannelOptions? serverOptions = null, TensorChannelOptions? clientOptions = null)
    {
        var accepted = new TaskCompletionSource<TensorChannel>(TaskCreationOptions.RunContinuationsAsynchronously);
        var listener = new TensorListener(IPAddress.Loopback, 0, channel =>
        {
            accepted.TrySetResult(channel);
            return Task.CompletedTask;
        }, serverOptions);
        try
        {
            var client = await TensorChannel.ConnectAsync(listener.LocalEndPoint, clientOptions, CancellationToken.None).WaitAsync(WaitLimit);
            var server = await accepted.Task.WaitAsync(WaitLimit);
            return new ChannelPair(listener, client, server);
        }
        catch
        {
            await listener.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// A listener plus a plain socket connected to it, past the opening handshake (a valid hello, the listener's
    /// "accepted" read back): the raw peer that sends hand-made (bad) frames.
    /// </summary>
    public static async Task<RawPeer> ConnectRawAsync(TensorChannelOptions? serverOptions = null)
    {
        var accepted = new TaskCompletionSource<TensorChannel>(TaskCreationOptions.RunContinuationsAsynchronously);
        var listener = new TensorListener(IPAddress.Loopback, 0, channel =>
        {
            accepted.TrySetResult(channel);
            return Task.CompletedTask;
        }, serverOptions);
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await socket.ConnectAsync(listener.LocalEndPoint).WaitAsync(WaitLimit);
            await socket.SendAsync(TensorHandshake.Hello(serverOptions?.AccessToken), SocketFlags.None);
            var reply = new byte[TensorHandshake.ReplySize];
            for (int got = 0; got < reply.Length;)
            {
                int n = await socket.ReceiveAsync(reply.AsMemory(got), SocketFlags.None).AsTask().WaitAsync(WaitLimit);
                if (n == 0) throw new IOException("the listener closed the connection during the handshake");
                got += n;
            }
            Assert.Equal(0, reply[4]); // accepted
            var server = await accepted.Task.WaitAsync(WaitLimit);
            return new RawPeer(listener, socket, server);
        }
        catch
        {
            socket.Dispose();
            await listener.DisposeAsync();
            throw;
        }
    }

    public static byte[] HeaderBytes(TensorHeader header)
    {
        var bytes = new byte[TensorFrame.HeaderSize];
        TensorFrame.WriteHeader(header, bytes);
        return bytes;
    }
}

internal sealed record ChannelPair(TensorListener Listener, TensorChannel Client, TensorChannel Server) : IAsyncDisposable
{
    public async ValueTask DisposeAsync()
    {
        await Client.DisposeAsync();
        await Server.DisposeAsync();
        await Listener.DisposeAsync();
    }
}

internal sealed record RawPeer(TensorListener Listener, Socket Socket, TensorChannel Server) : IAsyncDisposable
{
    public async Task SendAsync(byte[] bytes)
    {
        int sent = 0;
        while (sent < bytes.Length)
            sent += await Socket.SendAsync(bytes.AsMemory(sent), SocketFlags.None);
    }

    /// <summary>Completes when the other end has closed the connection (a receive returns 0 or fails).</summary>
    public async Task WaitForCloseAsync()
    {
        var buffer = new byte[256];
        try
        {
            while (await Socket.ReceiveAsync(buffer, SocketFlags.None).WaitAsync(TransportTestKit.WaitLimit) > 0)
            {
            }
        }
        catch (SocketException)
        {
            // a reset also means closed
        }
    }

    public async ValueTask DisposeAsync()
    {
        Socket.Dispose();
        await Server.DisposeAsync();
        await Listener.DisposeAsync();
    }
}

/// <summary>Copies each accepted frame into a new array and queues it; refuses frames <see cref="Accept"/> says no to.</summary>
internal sealed class QueueSink : ITensorSink
{
    private readonly Channel<(TensorHeader Header, float[] Payload)> _frames = Channel.CreateUnbounded<(TensorHeader, float[])>();
    private int _destinationRequests;

    public Func<TensorHeader, bool> Accept { get; init; } = _ => true;

    /// <summary>What <see cref="ITensorSink.ReadyAsync"/> awaits for each frame (null: nothing).</summary>
    public Func<TensorHeader, ValueTask>? Ready { get; init; }

    public ValueTask ReadyAsync(TensorHeader header) => Ready?.Invoke(header) ?? ValueTask.CompletedTask;

    public int DestinationRequests => Volatile.Read(ref _destinationRequests);

    public bool TryGetDestination(in TensorHeader header, out Memory<float> destination)
    {
        Interlocked.Increment(ref _destinationRequests);
        if (!Accept(header))
        {
            destination = default;
            return false;
        }
        destination = new float[header.Count];
        return true;
    }

    public void Received(in TensorHeader header, Memory<float> payload)
    {
        Assert.True(MemoryMarshal.TryGetArray<float>(payload, out var segment));
        Assert.Equal(header.Count, segment.Count);
        _frames.Writer.TryWrite((header, segment.Array!));
    }

    public async Task<(TensorHeader Header, float[] Payload)> NextAsync() =>
        await _frames.Reader.ReadAsync().AsTask().WaitAsync(TransportTestKit.WaitLimit);

    public bool TryTake(out (TensorHeader Header, float[] Payload) frame) => _frames.Reader.TryRead(out frame);
}
