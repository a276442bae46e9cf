using DistributedNN.Model;

namespace DistributedNN.Serialization;

/// <summary>A network's architecture and its trained parameters.</summary>
public sealed record TrainedModel(NetworkSpec Spec, float[] Parameters, string Notes = "")
{
    public TrainedModel Validate()
    {
        if (Parameters.Length != Spec.ParameterCount)
            throw new ArgumentException($"{Parameters.Length} parameters for a network of {Spec.ParameterCount}");
        return this;
    }
}
