using DistributedNN.Numerics;

namespace DistributedNN.Model.Layers;

/// <summary>
/// Batch normalisation (torch.nn.BatchNorm2d over each channel; BatchNorm1d over each feature of a flat input; ε = 10⁻⁵,
/// momentum 0.1). In training, each channel is normalised with the mean and (biased) variance of its values over the
/// rows of the <b>shard</b> — K is part of the run's mathematics, so any number of workers or threads computes the same
/// statistics, as DistributedDataParallel's per-process BatchNorm does — then y = γ x̂ + β. In evaluation (a call without
/// a gradient) the running statistics are used instead.
/// <para>The running mean and variance live in the flat vector after γ and β (<see cref="LayerSpec.StatCount"/>): the
/// backward pass writes into their "gradient" slots each shard's rows × mean and rows × unbiased variance, summed in shard
/// order like every gradient, and the optimizer moves them by the exponential average r ← r + 0.1·(sum/batch − r)
/// instead of a gradient step (<see cref="Training.OptimizerSettings.Averaged"/>). So they travel, checkpoint and
/// resume with the weights, and end as torch's would with one shard.</para>
/// </summary>
internal sealed unsafe class BatchNormLayer : Layer
{
    public const double Epsilon = 1e-5;
    private readonly int _channels, _area;
    private readonly float[] _normalizedHeld, _partHeld; // x̂ [rows × n]; one shard's sums [2C]
    private readonly float* _normalized, _part;
    private double[] _mean = [], _variance = [], _inverse = []; // per shard and channel, [shards × C]

    public BatchNormLayer(NetworkSpec network, int index, Layer?[] sources, int maxRows) : base(network, index, sources, maxRows)
    {
        _channels = Spec.InShape.Channels;
        _area = Spec.InShape.Height * Spec.InShape.Width;
        _normalizedHeld = Pinned.Floats((long)maxRows * Outputs, out _normalized);
        _partHeld = Pinned.Floats(2 * _channels, out _part);
    }

    private int StatOffset => BiasOffset + _channels;

    public override void Forward(in Pass pass)
    {
        float* gamma = pass.Parameters + WeightOffset, beta = pass.Parameters + BiasOffset;
        if (pass.Gradient is null)
        {
            // evaluation: x̂ = (x − running mean)/√(running variance + ε)
            float* running = pass.Parameters + StatOffset;
            for (int c = 0; c < _channels; c++)
                Normalize(pass, 0, pass.Rows, c, running[c], 1 / Math.Sqrt(running[_channels + c] + Epsilon), gamma[c], beta[c]);
        }
        else
        {
            // training: each shard's own mean and biased variance per channel, over its rows × positions
            var shards = pass.Shards;
            int count = shards.Length - 1;
            if (_mean.Length < count * _channels) (_mean, _variance, _inverse) = (new double[count * _channels], new double[count * _channels], new double[count * _channels]);
            for (int s = 0; s < count; s++)
            {
                for (int c = 0; c < _channels; c += BatchNormKernels.Group) Moments(pass, shards[s], shards[s + 1], s, c);
                for (int c = 0; c < _channels; c++)
                {
                    int at = s * _channels + c;
                    _inverse[at] = 1 / Math.Sqrt(_variance[at] + Epsilon);
                    Normalize(pass, shards[s], shards[s + 1], c, _mean[at], _inverse[at], gamma[c], beta[c]);
                }
            }
        }
        Activate(pass, null);
    }

    // the mean and biased variance of channels c … c + 3 (as many as there are) over rows [from, to) of shard s, in double,
    // rows then positions in order, into _mean and _variance
    private void Moments(in Pass pass, int from, int to, int s, int c)
    {
        int group = Math.Min(BatchNormKernels.Group, _channels - c);
        long m = (long)(to - from) * _area;
        double* sums = stackalloc double[BatchNormKernels.Group];
        double* squares = stackalloc double[BatchNormKernels.Group];
        if (m > 0)
        {
            float* x = Source(pass);
            BatchNormKernels.Sums(x, Outputs, _area, from, to, c, group, sums);
            for (int j = 0; j < group; j++) sums[j] /= m;
            BatchNormKernels.Squares(x, Outputs, _area, from, to, c, group, sums, squares);
        }
        for (int j = 0; j < group; j++)
        {
            int at = s * _channels + c + j;
            (_mean[at], _variance[at]) = m == 0 ? (0, 0) : (sums[j], squares[j] / m);
        }
    }

    private void Normalize(in Pass pass, int from, int to, int c, double mean, double inverse, float gamma, float beta)
    {
        float* x = Source(pass);
        for (int r = from; r < to; r++)
        {
            long i = (long)r * Outputs + (long)c * _area;
            BatchNormKernels.Normalize(x + i, _normalized + i, Output + i, _area, mean, inverse, gamma, beta);
        }
    }

    public override void Backward(in Pass pass)
    {
        var shards = pass.Shards;
        // dγ = Σ δ ⊙ x̂, dβ = Σ δ per channel; the statistics' slots: rows × mean, rows × unbiased variance — each shard from zero, in shard order
        var sums = new ShardSums(this, Delta, shards, statistics: false);
        ShardOrder.Sum(ref sums, new Span<float>(pass.Gradient + WeightOffset, 2 * _channels), new Span<float>(_part, 2 * _channels));
        var stats = new ShardSums(this, Delta, shards, statistics: true);
        ShardOrder.Sum(ref stats, new Span<float>(pass.Gradient + StatOffset, 2 * _channels), new Span<float>(_part, 2 * _channels));
        if (!SourceIsLayer()) return;
        // dE/dx = (1/σ̂)·(g − mean(g) − x̂ ⊙ mean(g ⊙ x̂)) over each shard's rows × positions per channel, g = δ·γ
        float* gamma = pass.Parameters + WeightOffset, dx = SourceGradient(pass);
        double* g = stackalloc double[BatchNormKernels.Group];
        double* gx = stackalloc double[BatchNormKernels.Group];
        for (int s = 0; s + 1 < shards.Length; s++)
        {
            int from = shards[s], to = shards[s + 1];
            long m = (long)(to - from) * _area;
            if (m == 0) continue;
            for (int c0 = 0; c0 < _channels; c0 += BatchNormKernels.Group)
            {
                int group = Math.Min(BatchNormKernels.Group, _channels - c0);
                BatchNormKernels.GradientSums(Delta, _normalized, Outputs, _area, from, to, c0, group, gamma, g, gx);
                for (int j = 0; j < group; j++)
                {
                    int c = c0 + j;
                    double meanG = g[j] / m, meanGx = gx[j] / m, inverse = _inverse[s * _channels + c];
                    for (int r = from; r < to; r++)
                    {
                        long i = (long)r * Outputs + (long)c * _area;
                        BatchNormKernels.InputGradient(Delta + i, _normalized + i, dx + i, _area, gamma[c], meanG, meanGx, inverse);
                    }
                }
            }
        }
        Deliver(0, dx, (long)pass.Rows * Outputs);
    }

    /// <summary>Shard s's [2C]: Σ δ ⊙ x̂ then Σ δ per channel; or (statistics) rows × mean then rows × unbiased variance.</summary>
    private readonly ref struct ShardSums(BatchNormLayer layer, float* delta, ReadOnlySpan<int> shards, bool statistics) : ShardOrder.IShards
    {
        private readonly ReadOnlySpan<int> _shards = shards;

        public int Count => _shards.Length - 1;

        public ReadOnlySpan<float> Part(int shard, Span<float> scratch)
        {
            int from = _shards[shard], to = _shards[shard + 1], channels = layer._channels, area = layer._area;
            if (from == to) return default;
            scratch.Clear();
            if (!statistics)
            {
                fixed (float* sums = scratch)
                    for (int c = 0; c < channels; c += BatchNormKernels.Group)
                        BatchNormKernels.DeltaSums(delta, layer._normalized, layer.Outputs, area, from, to, c, Math.Min(BatchNormKernels.Group, channels - c),
                            sums + c, sums + channels + c);
                return scratch;
            }
            for (int c = 0; c < channels; c++)
            {
                int at = shard * channels + c, rows = to - from;
                long m = (long)rows * area;
                scratch[c] = (float)(rows * layer._mean[at]);
                scratch[channels + c] = (float)(rows * (m > 1 ? layer._variance[at] * m / (m - 1) : 0));
            }
            return scratch;
        }
    }
}
