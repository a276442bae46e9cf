namespace DistributedNN.Transport;

/// <summary>
/// What a <see cref="TensorListener"/> lets strangers cost it. Anyone who can reach the port can open connections, so
/// connections still in their opening handshake (<see cref="MaxHandshakes"/>) and all connections it holds, handshaking
/// or accepted (<see cref="MaxConnections"/>), are capped: one beyond either cap is closed at once (a reset), never read.
/// A handshake that does not finish within <see cref="TensorChannelOptions.HandshakeTimeout"/> frees its place. The
/// listener's reports (refusals, failed handshakes) are limited to <see cref="ReportsPerWindow"/> per
/// <see cref="ReportWindow"/>, the rest counted in one line at the window's end, so a flood cannot flood the log.
/// </summary>
public sealed record ListenerLimits
{
    public static ListenerLimits Default { get; } = new();

    // a worker of a sharded job holds a connection from each other worker (up to 64 of them at once opening theirs) and the coordinator's
    private readonly int _maxHandshakes = 32, _maxConnections = 80, _reportsPerWindow = 10;

    /// <summary>Connections in their opening handshake at once. Default 32.</summary>
    public int MaxHandshakes
    {
        get => _maxHandshakes;
        init => _maxHandshakes = Positive(value, nameof(MaxHandshakes));
    }

    /// <summary>Connections held at once, in the handshake or accepted and not yet closed. Default 80.</summary>
    public int MaxConnections
    {
        get => _maxConnections;
        init => _maxConnections = Positive(value, nameof(MaxConnections));
    }

    /// <summary>Reports passed on one by one per <see cref="ReportWindow"/>. Default 10.</summary>
    public int ReportsPerWindow
    {
        get => _reportsPerWindow;
        init => _reportsPerWindow = Positive(value, nameof(ReportsPerWindow));
    }

    /// <summary>Default 1 minute.</summary>
    public TimeSpan ReportWindow { get; init; } = TimeSpan.FromMinutes(1);

    private static int Positive(int value, string name) => value > 0 ? value : throw new ArgumentOutOfRangeException(name, value, "must be > 0");
}
