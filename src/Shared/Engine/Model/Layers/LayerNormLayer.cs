using DistributedNN.Numerics;

namespace DistributedNN.Model.Layers;

/// <summary>
/// Layer normalisation (torch.nn.LayerNorm over the whole sample, ε = 10⁻⁵): each row x [n] becomes
/// y = γ ⊙ (x − μ)/√(σ² + ε) + β, μ and σ² (biased) its own mean and variance, γ and β [n] learned. Row by row in double,
/// rounded once to float, so a row's result depends on that row alone; then the activation.
/// </summary>
internal sealed unsafe class LayerNormLayer : Layer
{
    public const double Epsilon = 1e-5;
    private readonly float[] _normalizedHeld, _inverseHeld, _partHeld; // x̂ [rows × n]; 1/√(σ² + ε) per row; one shard's sum [n]
    private readonly float* _normalized, _inverse, _part;

    public LayerNormLayer(NetworkSpec network, int index, Layer?[] sources, int maxRows) : base(network, index, sources, maxRows)
    {
        _normalizedHeld = Pinned.Floats((long)maxRows * Outputs, out _normalized);
        _inverseHeld = Pinned.Floats(maxRows, out _inverse);
        _partHeld = Pinned.Floats(Outputs, out _part);
    }

    public override void Forward(in Pass pass)
    {
        // x̂ = (x − μ)/√(σ² + ε) per row;  A = act(γ ⊙ x̂ + β)   [rows × n]
        int n = Outputs;
        float* gamma = pass.Parameters + WeightOffset, beta = pass.Parameters + BiasOffset, x = Source(pass);
        for (int r = 0; r < pass.Rows; r++)
        {
            float* row = x + (long)r * n, xh = _normalized + (long)r * n, y = Output + (long)r * n;
            double mean = 0, variance = 0;
            for (int j = 0; j < n; j++) mean += row[j];
            mean /= n;
            for (int j = 0; j < n; j++) variance += (row[j] - mean) * (row[j] - mean);
            double inverse = 1 / Math.Sqrt(variance / n + Epsilon);
            _inverse[r] = (float)inverse;
            for (int j = 0; j < n; j++)
            {
                xh[j] = (float)((row[j] - mean) * inverse);
                y[j] = gamma[j] * xh[j] + beta[j];
            }
        }
        Activate(pass, null);
    }

    public override void Backward(in Pass pass)
    {
        int n = Outputs;
        // dγ = Σ_rows δ ⊙ x̂,  dβ = Σ_rows δ   [n], each shard from zero, added in shard order
        var gammaParts = new ShardProducts(Delta, _normalized, n, pass.Shards);
        ShardOrder.Sum(ref gammaParts, new Span<float>(pass.Gradient + WeightOffset, n), new Span<float>(_part, n));
        var betaParts = new ShardColumnSums(Delta, n, pass.Shards);
        ShardOrder.Sum(ref betaParts, new Span<float>(pass.Gradient + BiasOffset, n), new Span<float>(_part, n));
        if (!SourceIsLayer()) return;
        // dE/dx = (1/σ̂)·(g − mean(g) − x̂ ⊙ mean(g ⊙ x̂)) per row, g = δ ⊙ γ
        float* gamma = pass.Parameters + WeightOffset, dx = SourceGradient(pass);
        for (int r = 0; r < pass.Rows; r++)
        {
            float* d = Delta + (long)r * n, xh = _normalized + (long)r * n, into = dx + (long)r * n;
            double meanG = 0, meanGx = 0;
            for (int j = 0; j < n; j++)
            {
                double g = (double)d[j] * gamma[j];
                meanG += g;
                meanGx += g * xh[j];
            }
            meanG /= n;
            meanGx /= n;
            for (int j = 0; j < n; j++) into[j] = (float)(_inverse[r] * ((double)d[j] * gamma[j] - meanG - xh[j] * meanGx));
        }
        Deliver(0, dx, (long)pass.Rows * n);
    }

    /// <summary>Shard s's Σ_rows δ ⊙ x̂ [n], from zero in row order.</summary>
    private readonly ref struct ShardProducts(float* delta, float* normalized, int n, ReadOnlySpan<int> shards) : ShardOrder.IShards
    {
        private readonly ReadOnlySpan<int> _shards = shards;

        public int Count => _shards.Length - 1;

        public ReadOnlySpan<float> Part(int shard, Span<float> scratch)
        {
            int from = _shards[shard], to = _shards[shard + 1];
            if (from == to) return default;
            scratch.Clear();
            for (int r = from; r < to; r++)
                for (int j = 0; j < n; j++)
                    scratch[j] += delta[(long)r * n + j] * normalized[(long)r * n + j];
            return scratch;
        }
    }
}
