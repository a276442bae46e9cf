namespace DistributedNN.Planning;

/// <summary>
/// What one link carries in one phase of a step: bytes and tensor messages each way. Links are full duplex, so the bytes
/// take the longer direction's time; the CPU the host spends on them (per message, per byte) is counted per host by
/// <see cref="CostModel"/>, both directions added.
/// </summary>
public readonly record struct LinkPhase(double BytesOut, double BytesIn, int MessagesOut, int MessagesIn)
{
    public static readonly LinkPhase Idle = default;

    public double Bytes => BytesOut + BytesIn;
    public int Messages => MessagesOut + MessagesIn;
    public bool IsIdle => Messages == 0;

    /// <summary>
    /// The phase's time on the wire: the longer direction at the link rate and one one-way latency (the messages of a phase
    /// are pipelined: they do not wait for each other's delivery).
    /// </summary>
    public double WireSeconds(MachineFigures machine) => IsIdle ? 0 : Math.Max(BytesOut, BytesIn) / machine.LinkBytesPerSecond + machine.LatencySeconds;
}
