namespace DistributedNN.Protocol;

/// <summary>What a <see cref="WorkOrder"/> asks for, and what a <see cref="WorkResult"/> answers.</summary>
public enum WorkKind
{
    /// <summary>Shard gradients of a training step; each result is followed by its gradient.</summary>
    Shards = 1,
    /// <summary>Loss and accuracy of test-set chunks [c·chunk, (c+1)·chunk) (no gradient).</summary>
    Evaluation = 2,
    /// <summary>A slice owner's gradient sum over its slice for a step (sharded topology; item: the slice's offset), followed by the sum.</summary>
    SliceSum = 3,
}

/// <summary>
/// Coordinator → worker, on the job's link: compute <paramref name="Items"/> (shards of global step
/// <paramref name="Step"/>, i.e. step <paramref name="StepInEpoch"/> of epoch <paramref name="Epoch"/>; or evaluation chunks)
/// with the weights of version <paramref name="Version"/>, which the link delivers first. The samples follow from the data
/// plan, a function of (seed, epoch, step) the worker computes itself. Encoded by <see cref="WorkCodec"/> on every transport.
/// </summary>
public sealed record WorkOrder(WorkKind Kind, Guid Job, long Step, long Version, int Epoch, int StepInEpoch, int[] Items);
