using System.Net;
using System.Net.Sockets;

namespace DistributedNN.Transport;

/// <summary>
/// The TCP side of a <see cref="TensorChannel"/>: how its socket is set up, and how a failure on it reads to the
/// caller (an <see cref="IOException"/> naming the peer, or an <see cref="ObjectDisposedException"/> once the channel
/// was disposed).
/// </summary>
internal static class TensorSocket
{
    /// <summary>No Nagle delay, the options' buffer sizes, and keep-alive probes that find a dead peer within seconds.</summary>
    public static void Configure(Socket socket, TensorChannelOptions options)
    {
        socket.NoDelay = true;
        if (options.SocketBufferBytes > 0)
        {
            socket.SendBufferSize = options.SocketBufferBytes;
            socket.ReceiveBufferSize = options.SocketBufferBytes;
        }
        if (options.KeepAlive)
        {
            try
            {
                socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
                socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime, 10);
                socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveInterval, 2);
                socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveRetryCount, 3);
            }
            catch (Exception e) when (e is SocketException or PlatformNotSupportedException)
            {
                // keep-alive tuning is a best effort: the step deadline catches a silent peer anyway
            }
        }
    }

    /// <summary>What to throw for <paramref name="e"/>, raised while <paramref name="action"/> (sending, receiving) to <paramref name="remote"/>.</summary>
    /// <param name="disposed">the channel was disposed: the failure is the disposal's doing</param>
    public static Exception Translate(Exception e, string action, IPEndPoint remote, bool disposed)
    {
        if (disposed && e is SocketException or ObjectDisposedException or IOException)
            return new ObjectDisposedException($"the tensor channel to {remote} was disposed while {action}", e);
        if ((e as SocketException ?? (e is IOException { InnerException: SocketException } ? e.InnerException : null)) is SocketException se)
            return new IOException($"the connection to {remote} failed while {action}: {se.SocketErrorCode} ({se.Message})", se);
        return e;
    }
}
