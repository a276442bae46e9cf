using DistributedNN.Numerics;
using DistributedNN.Training;
using DistributedNN.Transport;

namespace DistributedNN.Coordinator;

/// <summary>
/// The coordinator's own computation of a shard (it has the engine and the data): the trusted opinion that decides when
/// two workers disagree, and the second one when no other worker can give it. It computes what an honest worker would
/// send: with the weights as they reach the workers (rounded to bfloat16 when they travel so), its gradient rounded as the
/// workers' gradients are on the way back. Runs on the caller's thread; one shard at a time.
/// </summary>
public sealed class ShardReferee(ShardComputer computer, WireFormat weights = WireFormat.Fp32, WireFormat gradients = WireFormat.Fp32)
{
    /// <summary>How logs name the coordinator's opinion.</summary>
    public const string Name = "the coordinator";

    private float[] _rounded = [];
    private ushort[] _bits = [];
    private long _roundedVersion = -1;

    /// <summary>Computes <paramref name="shard"/> of <paramref name="step"/> with the step's <paramref name="parameters"/>, into a buffer of the step.</summary>
    public ShardOpinion Compute(StepAggregator step, int shard, float[] parameters)
    {
        var gradient = step.RentGradient();
        var stats = computer.ComputeShard(AsSent(parameters, step.Version), step.Epoch, step.StepInEpoch, shard, gradient, step.Version);
        if (gradients == WireFormat.Bf16) Round(gradient, gradient);
        return new ShardOpinion(WorkScheduler.Coordinator, Name, gradient, stats, computer.Activity.ToArray());
    }

    private float[] AsSent(float[] parameters, long version)
    {
        if (weights != WireFormat.Bf16) return parameters;
        if (_roundedVersion != version || _rounded.Length != parameters.Length)
        {
            if (_rounded.Length != parameters.Length) _rounded = new float[parameters.Length];
            Round(parameters, _rounded);
            _roundedVersion = version;
        }
        return _rounded;
    }

    /// <summary>Each value rounded to bfloat16 and widened back, as a bf16 frame carries it.</summary>
    private void Round(ReadOnlySpan<float> source, Span<float> destination)
    {
        if (_bits.Length < source.Length) _bits = new ushort[source.Length];
        BFloat16.Narrow(source, _bits);
        BFloat16.Widen(_bits.AsSpan(0, source.Length), destination);
    }
}
