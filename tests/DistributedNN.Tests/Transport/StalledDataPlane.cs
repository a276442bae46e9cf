using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using DistributedNN.Transport;

namespace DistributedNN.Tests.Transport;

/// <summary>
/// A worker's data plane that answers the coordinator's hello (its token checked) and then never reads again: a worker
/// process that stopped reading its socket. Its receive buffer is small, so a frame of a few MB fills the TCP window.
/// </summary>
internal sealed class StalledDataPlane : IDisposable
{
    private readonly Socket _listener = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
    private readonly TaskCompletionSource<Socket> _accepted = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public StalledDataPlane()
    {
        _listener.ReceiveBufferSize = 4096; // accepted sockets inherit it
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(4);
        _ = AnswerHelloAsync();
    }

    /// <summary>The token it expects, as a worker registers with.</summary>
    public byte[] Token { get; } = TensorHandshake.NewToken();

    public int Port => ((IPEndPoint)_listener.LocalEndPoint!).Port;

    /// <summary>Completes once a connection said hello with the token and was told "accepted".</summary>
    public Task Accepted => _accepted.Task;

    private async Task AnswerHelloAsync()
    {
        try
        {
            var socket = await _listener.AcceptAsync();
            var hello = new byte[TensorHandshake.HelloSize];
            for (int got = 0; got < hello.Length;)
            {
                int n = await socket.ReceiveAsync(hello.AsMemory(got), SocketFlags.None);
                if (n == 0) throw new IOException("the coordinator closed the connection during the hello");
                got += n;
            }
            Assert.Equal(Token, hello.AsSpan(8, TensorHandshake.TokenSize).ToArray());
            var reply = new byte[TensorHandshake.ReplySize];
            BinaryPrimitives.WriteUInt32LittleEndian(reply, TensorHandshake.ReplyMagic); // status 0: accepted
            await socket.SendAsync(reply, SocketFlags.None);
            _accepted.TrySetResult(socket);
        }
        catch (Exception e)
        {
            _accepted.TrySetException(e);
        }
    }

    public void Dispose()
    {
        if (_accepted.Task.IsCompletedSuccessfully) _accepted.Task.Result.Dispose();
        _listener.Dispose();
    }
}
