using DistributedNN.Data;
using DistributedNN.Model;

namespace DistributedNN.Serialization;

/// <summary>A network's architecture, its trained parameters, and what it does to a raw sample first (null: nothing
/// known, as in a model file before version 3).</summary>
public sealed record TrainedModel(NetworkSpec Spec, float[] Parameters, string Notes = "", InputTransform? Input = null)
{
    /// <summary>The classes a network tells apart: one per output, two for a single output.</summary>
    public static int ClassCount(NetworkSpec spec) => spec.OutputSize == 1 ? 2 : spec.OutputSize;

    public TrainedModel Validate()
    {
        if (Parameters.Length != Spec.ParameterCount)
            throw new ArgumentException($"{Parameters.Length} parameters for a network of {Spec.ParameterCount}");
        Input?.Check(Spec.InputSize, ClassCount(Spec), "model");
        return this;
    }
}
