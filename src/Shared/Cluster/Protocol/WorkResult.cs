using DistributedNN.Model;

namespace DistributedNN.Protocol;

/// <summary>
/// Worker → coordinator, on the job's link: one item of a <see cref="WorkOrder"/> is done. For shard work its gradient
/// (the SUM over the shard's samples, in the flat layout, <paramref name="GradientLength"/> values) follows on the same
/// link; <paramref name="Activity"/> holds per layer the shard's dead ReLU units or saturated sigmoid/tanh outputs
/// (<see cref="ActivationHealth"/>). Evaluation results carry neither. Encoded by <see cref="WorkCodec"/>.
/// In a sharded job a shard's gradient goes to the slice owners instead (GradientLength 0), and <paramref name="Layout"/> —
/// carried by the tcp frame's header, not by the codec — names the reduce layout whose owners it went to.
/// </summary>
public sealed record WorkResult(WorkKind Kind, Guid Job, long Step, long Version, int Item, BatchStats Stats, double ComputeMilliseconds,
    int GradientLength, int[] Activity, ushort Layout = 0);
