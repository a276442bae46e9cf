using DistributedNN.Model;

namespace DistributedNN.Planning;

/// <summary>
/// What one training sample costs a network: its parameter count P (the floats a gradient or a weight vector holds) and the
/// floating-point operations of one forward and backward pass. <see cref="FlopsPerSample"/> is 0 when unknown (only
/// <c>--parameters</c> given; the sample time then comes from <c>--sample-us</c>).
/// </summary>
public sealed record NetworkCost(long Parameters, double FlopsPerSample)
{
    /// <summary>Bytes of one gradient or weight vector in fp32.</summary>
    public double VectorBytes => Parameters * 4.0;

    /// <summary>
    /// The parameters and training FLOPs of <paramref name="spec"/>: per sample, a dense layer's forward pass is in·out
    /// multiply-adds (2·in·out FLOPs), a convolution's 2·C·k·k·F·outH·outW; backward costs about twice the forward (the input
    /// gradient and the weight gradient, each a product of the forward's size), so training is 3× the forward. The first layer
    /// needs no input gradient, and pooling, activations and the loss are left out: each a few per cent at most.
    /// </summary>
    public static NetworkCost Of(NetworkSpec spec) => new(spec.ParameterCount, 3 * spec.Layers.Sum(ForwardFlops));

    /// <summary>One sample's forward FLOPs through <paramref name="layer"/> (0 for layers without parameters).</summary>
    public static double ForwardFlops(LayerSpec layer) => layer.Kind switch
    {
        LayerKind.Dense => 2.0 * layer.Inputs * layer.Outputs,
        LayerKind.Conv => 2.0 * layer.Conv.PatchSize * layer.Conv.Filters * layer.Conv.OutHeight * layer.Conv.OutWidth,
        _ => 0,
    };
}
