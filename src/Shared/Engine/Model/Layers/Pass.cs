using DistributedNN.Numerics;

namespace DistributedNN.Model.Layers;

/// <summary>
/// One call of a <see cref="Network"/> as its layers see it: the parameters θ, the input x [rows × InputSize], the rows
/// and — when training — where θ's gradient goes, the shard bounds over the rows and each shard's dropout stream.
/// </summary>
internal readonly unsafe ref struct Pass
{
    /// <summary>θ, the flat parameter vector.</summary>
    public required float* Parameters { get; init; }
    /// <summary>x [rows × InputSize].</summary>
    public required float* Input { get; init; }
    public required int Rows { get; init; }
    /// <summary>The products' threads (one, or a team).</summary>
    public required GemmTeam Gemm { get; init; }
    /// <summary>dE/dθ in θ's layout (overwritten); null when the call only runs forward.</summary>
    public float* Gradient { get; init; }
    /// <summary>Shard bounds [0 = b₀, b₁, …, rows]: a parameter gradient is summed from zero per shard, the shards added in order.</summary>
    public ReadOnlySpan<int> Shards { get; init; }
    /// <summary>Per shard, the dropout masks' stream; empty when nothing is dropped (inference).</summary>
    public ReadOnlySpan<Rng> Dropout { get; init; }
    /// <summary>[rows × the widest layer]: a source's part of dE/d(output) on its way to being added to the others.</summary>
    public float* Scratch { get; init; }
    /// <summary>Zeros, the bias of a layer without one.</summary>
    public float* Zeros { get; init; }
}
