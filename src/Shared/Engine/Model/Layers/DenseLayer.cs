using DistributedNN.Numerics;

namespace DistributedNN.Model.Layers;

/// <summary>
/// A fully connected layer: z = W·a_src + b with W [out × in] (nn.Linear's layout), then a = act(z). Batch-major over
/// the call's rows: Z = A_src·Wᵀ, with Wᵀ [in × out] transposed once per weight version so that the product reads it
/// row by row. The products run on the call's <see cref="GemmTeam"/>.
/// </summary>
internal sealed unsafe class DenseLayer : Layer
{
    private readonly float[] _transposed, _columnSum; // held: Wᵀ [in × out]; one shard's Σ_rows δ [out]
    private readonly float* _weightsT, _shardSum;

    public DenseLayer(NetworkSpec network, int index, Layer?[] sources, int maxRows) : base(network, index, sources, maxRows)
    {
        _transposed = Pinned.Floats((long)Inputs * Outputs, out _weightsT);
        _columnSum = Pinned.Floats(Outputs, out _shardSum);
    }

    public override void Prepare(in Pass pass) => pass.Gemm.Transpose(Outputs, Inputs, pass.Parameters + WeightOffset, _weightsT);

    public override void Forward(in Pass pass)
    {
        // Z = A_src · Wᵀ   [rows × out] = [rows × in]·[in × out];  then A = act(Z + b)
        pass.Gemm.MatMul(pass.Rows, Outputs, Inputs, Source(pass), Inputs, 1, _weightsT, Outputs, Output, Outputs, accumulate: false);
        Activate(pass, pass.Parameters + BiasOffset);
    }

    public override void Backward(in Pass pass)
    {
        // dW = δᵀ · A_src   [out × in] = [out × rows]·[rows × in], each shard from zero, added in shard order
        pass.Gemm.MatMulSegmented(Outputs, Inputs, pass.Shards, Delta, 1, Outputs, Source(pass), Inputs, pass.Gradient + WeightOffset, Inputs);
        // db = Σ_rows δ   [out], each shard from zero, added in shard order
        var sums = new ShardColumnSums(Delta, Outputs, pass.Shards);
        ShardOrder.Sum(ref sums, new Span<float>(pass.Gradient + BiasOffset, Outputs), new Span<float>(_shardSum, Outputs));
        if (!SourceIsLayer()) return;
        // dE/dA_src = δ · W   [rows × in] = [rows × out]·[out × in]
        float* dx = SourceGradient(pass);
        pass.Gemm.MatMul(pass.Rows, Inputs, Outputs, Delta, Outputs, 1, pass.Parameters + WeightOffset, Inputs, dx, Inputs, accumulate: false);
        Deliver(0, dx, (long)pass.Rows * Inputs);
    }
}
