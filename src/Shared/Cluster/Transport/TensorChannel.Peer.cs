namespace DistributedNN.Transport;

public sealed partial class TensorChannel
{
    /// <summary>Accepted with the listener's peer token: another worker of a sharded job, not the coordinator.</summary>
    public bool IsPeer { get; internal init; }
}
