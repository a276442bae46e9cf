namespace DistributedNN.Transport;

/// <summary>What a tensor frame carries. Stored as one byte in the frame header; other values are rejected.</summary>
public enum TensorKind : byte
{
    /// <summary>The flat parameter vector, coordinator → worker.</summary>
    Weights = 1,

    /// <summary>One shard's gradient sum (same layout as the weights), worker → coordinator.</summary>
    ShardGradient = 2,

    /// <summary>
    /// A shard gradient as bfloat16, 2 bytes per value (rounded to nearest even by the sender, widened exactly by
    /// the receiver, which hands its sink floats as for <see cref="ShardGradient"/>).
    /// </summary>
    ShardGradientBf16 = 3,

    /// <summary>The weights as bfloat16 (2 bytes per value), for workers of a job that sends weights in bf16.</summary>
    WeightsBf16 = 4,

    /// <summary>A work order (<see cref="Protocol.WorkOrder"/>), coordinator → worker (<see cref="WorkFrames"/>).</summary>
    Order = 5,

    /// <summary>One item's result (<see cref="Protocol.WorkResult"/>), worker → coordinator, before its gradient (<see cref="WorkFrames"/>).</summary>
    Result = 6,

    /// <summary>A sharded job's reduce layout (<see cref="ReduceLayout"/>), coordinator → worker: who owns which slice from now on.</summary>
    Layout = 7,

    /// <summary>A slice owner's starting state, coordinator → owner: the slice's weights (shard field 0), velocity (1), second moment (2).</summary>
    SliceState = 8,

    /// <summary>One shard's gradient over the owner's slice, worker → owner, then the shard's sample count (its int bits) as the last value.</summary>
    GradientSlice = 9,

    /// <summary>The owner's slice of the new weights, owner → every worker (shard field: the slice's index).</summary>
    WeightsSlice = 10,

    /// <summary>Opens a worker's connection to a slice owner for a layout (shard field: the worker's index in it; no values).</summary>
    PeerHello = 11,

    /// <summary>A step's gradient sum over a slice, owner → coordinator, after its result (shard field: the slice's offset).</summary>
    SliceSum = 12,
}

/// <summary>
/// The metadata of one tensor frame (see <see cref="TensorFrame"/> for the wire layout).
/// </summary>
/// <param name="Job">The training job the tensor belongs to.</param>
/// <param name="Step">The training step.</param>
/// <param name="Version">The weight version the tensor was computed from (weights: its own version).</param>
/// <param name="Kind">Weights or a shard gradient.</param>
/// <param name="Shard">The shard index, or −1 when not applicable (weights).</param>
/// <param name="Count">The number of float32 values in the payload (≥ 0).</param>
public readonly record struct TensorHeader(Guid Job, long Step, long Version, TensorKind Kind, int Shard, int Count)
{
    /// <summary>The reduce layout a sharded job's frame belongs to (the header's u16 at offset 6; 0 for every other frame).</summary>
    public ushort Layout { get; init; }

    /// <summary>The <see cref="Shard"/> value meaning "no shard".</summary>
    public const int NoShard = -1;

    /// <summary>Payload size in bytes: <see cref="Count"/> × 4, or × 2 for the bf16 kinds.</summary>
    public long PayloadBytes => (long)Count * BytesPerValue(Kind);

    /// <summary>Bytes per value on the wire of a frame of <paramref name="kind"/>.</summary>
    public static int BytesPerValue(TensorKind kind) => IsBf16(kind) ? 2 : sizeof(float);

    /// <summary>Whether frames of <paramref name="kind"/> are a step's order or result rather than a tensor.</summary>
    public static bool IsNotice(TensorKind kind) => kind is TensorKind.Order or TensorKind.Result or TensorKind.Layout or TensorKind.PeerHello;

    /// <summary>Whether frames of <paramref name="kind"/> carry bfloat16 values.</summary>
    public static bool IsBf16(TensorKind kind) => kind is TensorKind.ShardGradientBf16 or TensorKind.WeightsBf16;

    public override string ToString() =>
        $"{Kind} job {Job:N} step {Step} v{Version}{(Shard >= 0 ? $" shard {Shard}" : "")}{(Layout > 0 ? $" layout {Layout}" : "")} ({Count} floats)";
}
