namespace DistributedNN.Planning;

/// <summary>
/// One link's load in a step, in the step's two phases, which follow each other (each step's weights depend on the sum of
/// its gradients): <see cref="Gradients"/> (shard gradients or their slices on their way to be summed) and
/// <see cref="Weights"/> (the updated weights, or slices of them, on their way to the workers).
/// </summary>
public sealed record LinkLoad(string Link, LinkPhase Gradients, LinkPhase Weights)
{
    public const string Coordinator = "coordinator", WorkerHost = "worker host";

    public double Bytes => Gradients.Bytes + Weights.Bytes;
    public int Messages => Gradients.Messages + Weights.Messages;
}
