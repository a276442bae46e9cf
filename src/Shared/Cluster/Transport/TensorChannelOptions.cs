using DistributedNN.Security;

namespace DistributedNN.Transport;

/// <summary>Settings of a <see cref="TensorChannel"/>.</summary>
public sealed record TensorChannelOptions
{
    /// <summary>The default <see cref="MaxCount"/>: 64 Mi floats (256 MiB).</summary>
    public const int DefaultMaxCount = 64 * 1024 * 1024;

    /// <summary>The default socket send and receive buffer size: 4 MiB.</summary>
    public const int DefaultSocketBufferBytes = 4 * 1024 * 1024;

    public static TensorChannelOptions Default { get; } = new();

    /// <summary>Options for a model of <paramref name="parameterCount"/> parameters: no frame may carry more floats.</summary>
    public static TensorChannelOptions ForModel(int parameterCount) => new() { MaxCount = parameterCount };

    private readonly int _maxCount = DefaultMaxCount;
    private readonly int _socketBufferBytes = DefaultSocketBufferBytes;

    /// <summary>
    /// The largest float count an incoming frame may announce (normally the model's parameter count).
    /// A larger header is rejected before anything is read or allocated for its payload. Sending is not limited.
    /// </summary>
    public int MaxCount
    {
        get => _maxCount;
        init => _maxCount = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(MaxCount), value, "must be >= 0");
    }

    /// <summary>SO_SNDBUF and SO_RCVBUF of the socket (the OS may cap them); 0 keeps the OS defaults.</summary>
    public int SocketBufferBytes
    {
        get => _socketBufferBytes;
        init => _socketBufferBytes = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(SocketBufferBytes), value, "must be >= 0");
    }

    /// <summary>
    /// Turn on TCP keep-alive probes (after 10 s idle, every 2 s, 3 probes) so a peer whose machine vanished
    /// without closing the connection is noticed even when no frame is due. Default true.
    /// </summary>
    public bool KeepAlive { get; init; } = true;

    /// <summary>
    /// Mutual TLS (the cluster's certificates): a connecting channel presents this certificate and accepts only a
    /// trusted server; a listener accepts only clients presenting a trusted certificate. Null: plain TCP.
    /// </summary>
    public ClusterTls? Tls { get; init; }

    /// <summary>
    /// The credentials of the handshake (<see cref="TensorHandshake.TokenSize"/> bytes). A listener with a token
    /// refuses every connection that does not present it; a connecting channel presents it (zeros when null).
    /// </summary>
    public byte[]? AccessToken
    {
        get => _accessToken;
        init => _accessToken = value is null || value.Length == TensorHandshake.TokenSize ? value
            : throw new ArgumentException($"an access token has {TensorHandshake.TokenSize} bytes, got {value.Length}", nameof(AccessToken));
    }
    private readonly byte[]? _accessToken;

    /// <summary>
    /// A listener's second credentials: those of the other workers of a sharded job (<see cref="TensorHandshake.PeerToken"/>);
    /// a channel accepted with them is a peer's (<see cref="TensorChannel.IsPeer"/>).
    /// </summary>
    public byte[]? PeerToken { get; init; }

    /// <summary>How long the TLS and credentials handshake of a new connection may take. Default 10 s.</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// After the handshake: how long a frame being sent may make no progress (the peer stopped reading) or a frame that
    /// started arriving may stop, before the connection is dropped as stalled (<see cref="StallWatch"/>). Idle time
    /// between frames does not count. <see cref="Timeout.InfiniteTimeSpan"/>: never. Default 60 s (the default step timeout).
    /// </summary>
    public TimeSpan StallTimeout
    {
        get => _stallTimeout;
        init => _stallTimeout = value > TimeSpan.Zero || value == Timeout.InfiniteTimeSpan ? value
            : throw new ArgumentOutOfRangeException(nameof(StallTimeout), value, "must be positive, or infinite");
    }
    private readonly TimeSpan _stallTimeout = TimeSpan.FromSeconds(60);
}
