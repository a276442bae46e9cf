namespace DistributedNN.Planning;

/// <summary>
/// What one link carries in one phase of a step: bytes and tensor messages each way. Links are full duplex, so the bytes
/// take the longer direction's time; the messages' software overhead is CPU time of the one host, so both directions add.
/// </summary>
public readonly record struct LinkPhase(double BytesOut, double BytesIn, int MessagesOut, int MessagesIn)
{
    public static readonly LinkPhase Idle = default;

    public double Bytes => BytesOut + BytesIn;
    public int Messages => MessagesOut + MessagesIn;
    public bool IsIdle => Messages == 0;

    /// <summary>
    /// The phase's time on this link: the longer direction at the link rate, every message's overhead, the CPU time of
    /// every byte either way (network stack and TLS: on a host with a small CPU share it, not the link, holds the step),
    /// and one one-way latency (the messages of a phase are pipelined: they do not wait for each other's delivery).
    /// </summary>
    public double Seconds(MachineFigures machine) => IsIdle ? 0 :
        Math.Max(BytesOut, BytesIn) / machine.LinkBytesPerSecond + machine.MessageOverhead(Messages) + machine.ByteCpu(Bytes) + machine.LatencySeconds;
}
