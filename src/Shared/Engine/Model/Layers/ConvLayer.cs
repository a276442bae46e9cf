using DistributedNN.Numerics;

namespace DistributedNN.Model.Layers;

/// <summary>
/// A 2-D convolution over NCHW rows (<see cref="Conv2D"/>: im2col and the GEMM kernel), then a = act(z). Forward runs
/// over the call's rows at once; backward shard by shard, because the weight and bias gradient of each shard is summed
/// from zero and the shards added in order — and dE/dx of each shard's rows comes out of the same pass.
/// </summary>
internal sealed unsafe class ConvLayer : Layer
{
    private readonly Conv2D _conv;
    private readonly float[] _shardGradients; // held: one shard's dW then db, in the layer's parameter layout
    private readonly float* _shardGradient;

    public ConvLayer(NetworkSpec network, int index, Layer?[] sources, int maxRows) : base(network, index, sources, maxRows)
    {
        _conv = new Conv2D(Spec.Conv);
        _shardGradients = Pinned.Floats(Spec.ParameterCount, out _shardGradient);
    }

    public override void Forward(in Pass pass)
    {
        // Z = W ⊛ X + b   [rows × filters·oh·ow] (per chunk of samples: W [filters × c·k·k] · cols(X) [c·k·k × chunk·oh·ow]);  A = act(Z)
        _conv.Forward(pass.Gemm, new ReadOnlySpan<float>(Source(pass), pass.Rows * Inputs), pass.Rows,
            new ReadOnlySpan<float>(pass.Parameters + WeightOffset, Spec.ParameterCount), new Span<float>(Output, pass.Rows * Outputs));
        Activate(pass, null);
    }

    public override void Backward(in Pass pass)
    {
        // per shard: dWᵀ = cols(X) · δᵀ [c·k·k × filters], db = Σ δ [filters], dX = col2im(Wᵀ · δ) [rows × c·h·w];
        // then dW = ((dW₀ + dW₁) + dW₂) + …
        float* dx = SourceIsLayer() ? SourceGradient(pass) : null;
        var shards = new ShardGradients(this, pass, dx);
        ShardOrder.Sum(ref shards, new Span<float>(pass.Gradient + WeightOffset, Spec.ParameterCount), new Span<float>(_shardGradient, Spec.ParameterCount));
        if (dx is not null) Deliver(0, dx, (long)pass.Rows * Inputs);
    }

    /// <summary>Shard s's weight and bias gradient, from zero, and dE/dx of its rows.</summary>
    private readonly ref struct ShardGradients(ConvLayer layer, in Pass pass, float* dx) : ShardOrder.IShards
    {
        private readonly ReadOnlySpan<int> _shards = pass.Shards;
        private readonly GemmTeam _gemm = pass.Gemm;
        private readonly float* _x = layer.Source(pass), _parameters = pass.Parameters + layer.WeightOffset;

        public int Count => _shards.Length - 1;

        public ReadOnlySpan<float> Part(int shard, Span<float> scratch)
        {
            int from = _shards[shard], n = _shards[shard + 1] - from, inputs = layer.Inputs;
            if (n == 0) return default;
            layer._conv.Backward(_gemm, new ReadOnlySpan<float>(_x + (long)from * inputs, n * inputs),
                new ReadOnlySpan<float>(layer.Delta + (long)from * layer.Outputs, n * layer.Outputs), n,
                new ReadOnlySpan<float>(_parameters, layer.Spec.ParameterCount), scratch,
                dx is null ? default : new Span<float>(dx + (long)from * inputs, n * inputs));
            return scratch;
        }
    }
}
