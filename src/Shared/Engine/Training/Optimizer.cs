using System.Runtime.Intrinsics;

namespace DistributedNN.Training;

public enum OptimizerKind { Sgd, Momentum, Nesterov, Adam, AdamW }

/// <summary>Hyper-parameters of an optimizer; the meaning of each matches torch.optim.</summary>
public sealed record OptimizerSettings(
    OptimizerKind Kind,
    float LearningRate,
    float Momentum = 0.9f,
    float WeightDecay = 0f,
    float Beta1 = 0.9f,
    float Beta2 = 0.999f,
    float Epsilon = 1e-8f)
{
    public static bool TryParseKind(string? text, out OptimizerKind kind)
    {
        switch (text?.Trim().ToLowerInvariant())
        {
            case "sgd": kind = OptimizerKind.Sgd; return true;
            case "momentum": kind = OptimizerKind.Momentum; return true;
            case "nesterov": kind = OptimizerKind.Nesterov; return true;
            case "adam": kind = OptimizerKind.Adam; return true;
            case "adamw": kind = OptimizerKind.AdamW; return true;
            default: kind = default; return false;
        }
    }

    public static string Name(OptimizerKind kind) => kind.ToString().ToLowerInvariant();

    /// <summary>Rejects values that cannot train, naming the option.</summary>
    public void Validate()
    {
        if (!(LearningRate > 0) || float.IsInfinity(LearningRate)) throw new UserErrorException($"--lr must be a positive number (got {LearningRate})");
        if (!(Momentum >= 0 && Momentum < 1)) throw new UserErrorException($"--momentum must be in [0, 1) (got {Momentum})");
        if (!(WeightDecay >= 0) || float.IsInfinity(WeightDecay)) throw new UserErrorException($"--weight-decay must be zero or positive (got {WeightDecay})");
        if (!(Beta1 >= 0 && Beta1 < 1) || !(Beta2 >= 0 && Beta2 < 1)) throw new UserErrorException("Adam's betas must be in [0, 1)");
        if (!(Epsilon > 0)) throw new UserErrorException($"Adam's epsilon must be positive (got {Epsilon})");
    }
}

/// <summary>
/// Gradient descent on the flat parameter vector: w(t+1) = w(t) − η·dE/dw, and its refinements.
/// The gradient passed in is a SUM over the batch; <c>gradientScale</c> (1/batch) turns it into the
/// batch mean, so a learning rate means what it means in PyTorch. One SIMD pass per step; the
/// state (velocity, moments, step count) is public so a checkpoint can save and restore it.
/// </summary>
public sealed class Optimizer
{
    public Optimizer(OptimizerSettings settings, int parameterCount)
    {
        settings.Validate();
        Settings = settings;
        bool needsFirst = settings.Kind is not OptimizerKind.Sgd;
        bool needsSecond = settings.Kind is OptimizerKind.Adam or OptimizerKind.AdamW;
        Velocity = needsFirst ? new float[parameterCount] : [];
        SecondMoment = needsSecond ? new float[parameterCount] : [];
    }

    public OptimizerSettings Settings { get; }
    /// <summary>Momentum buffer v (SGD variants) or first moment m (Adam).</summary>
    public float[] Velocity { get; }
    /// <summary>Adam's second moment v.</summary>
    public float[] SecondMoment { get; }
    /// <summary>Number of updates applied (Adam's bias correction uses it).</summary>
    public long Steps { get; set; }

    public void Step(Span<float> weights, ReadOnlySpan<float> gradientSum, float gradientScale) =>
        Step(weights, gradientSum, gradientScale, null, default);

    /// <summary>
    /// One update; with <paramref name="layers"/>, also each layer's update-to-weight ratio ‖Δθ_l‖ / ‖θ_l‖ (after the
    /// update) into <paramref name="updateRatios"/>, measured in the same pass (the updated weights are the same bits either way).
    /// </summary>
    public void Step(Span<float> weights, ReadOnlySpan<float> gradientSum, float gradientScale, Model.NetworkSpec? layers, Span<double> updateRatios)
    {
        if (weights.Length != gradientSum.Length) throw new ArgumentException("weights and gradient differ in length");
        Steps++;
        if (layers is null)
        {
            Update(weights, gradientSum, gradientScale, 0, weights.Length);
            return;
        }
        if (layers.ParameterCount != weights.Length || updateRatios.Length != layers.Layers.Count) throw new ArgumentException("one ratio per layer of this network");
        for (int l = 0; l < layers.Layers.Count; l++)
        {
            var (offset, length) = layers.LayerRange(l);
            var e = Update(weights, gradientSum, gradientScale, offset, length);
            updateRatios[l] = e.Weight > 0 ? System.Math.Sqrt(e.Update / e.Weight) : 0;
        }
    }

    /// <summary>Σ (w_new − w_old)² and Σ w_new² over a stretch of parameters.</summary>
    private record struct Energy(double Update, double Weight)
    {
        public static Energy operator +(Energy a, Energy b) => new(a.Update + b.Update, a.Weight + b.Weight);
    }

    /// <summary>Float lanes over blocks this long, each block's sums flushed into doubles.</summary>
    private const int Block = 1024;

    private Energy Update(Span<float> weights, ReadOnlySpan<float> gradientSum, float scale, int offset, int length)
    {
        var s = Settings;
        var total = default(Energy);
        for (int start = offset; start < offset + length; start += Block)
        {
            int n = System.Math.Min(Block, offset + length - start);
            var w = weights.Slice(start, n);
            var g = gradientSum.Slice(start, n);
            total += s.Kind switch
            {
                OptimizerKind.Sgd => Sgd(w, g, scale, s.LearningRate, s.WeightDecay),
                OptimizerKind.Momentum or OptimizerKind.Nesterov => Momentum(w, g, Velocity.AsSpan(start, n), scale, s.LearningRate, s.Momentum, s.WeightDecay,
                    s.Kind == OptimizerKind.Nesterov, Steps == 1),
                _ => Adam(w, g, Velocity.AsSpan(start, n), SecondMoment.AsSpan(start, n), scale, s, s.Kind == OptimizerKind.AdamW),
            };
        }
        return total;
    }

    private static Energy Flush(Vector256<float> update, Vector256<float> weight, double tailUpdate, double tailWeight) =>
        new(Vector256.Sum(update) + tailUpdate, Vector256.Sum(weight) + tailWeight);

    // g = s·g + λw;  w ← w − η·g
    private static Energy Sgd(Span<float> w, ReadOnlySpan<float> gSum, float scale, float lr, float wd)
    {
        int i = 0;
        Vector256<float> eu = default, ew = default;
        if (Vector256.IsHardwareAccelerated)
        {
            var vs = Vector256.Create(scale); var vwd = Vector256.Create(wd); var vlr = Vector256.Create(lr);
            for (; i + 8 <= w.Length; i += 8)
            {
                var wi = Vector256.Create(w.Slice(i, 8));
                var g = vs * Vector256.Create(gSum.Slice(i, 8)) + vwd * wi;
                var next = wi - vlr * g;
                next.CopyTo(w.Slice(i, 8));
                var d = next - wi;
                eu += d * d; ew += next * next;
            }
        }
        double tu = 0, tw = 0;
        for (; i < w.Length; i++)
        {
            float g = scale * gSum[i] + wd * w[i];
            float next = w[i] - lr * g;
            tu += (double)(next - w[i]) * (next - w[i]); tw += (double)next * next;
            w[i] = next;
        }
        return Flush(eu, ew, tu, tw);
    }

    // torch.optim.SGD: g = s·g + λw;  v ← μv + g (v = g on the first step);  g ← g + μv (Nesterov) or v;  w ← w − η·g
    private static Energy Momentum(Span<float> w, ReadOnlySpan<float> gSum, Span<float> v, float scale, float lr, float mu, float wd, bool nesterov, bool first)
    {
        int i = 0;
        Vector256<float> eu = default, ew = default;
        if (Vector256.IsHardwareAccelerated)
        {
            var vs = Vector256.Create(scale); var vwd = Vector256.Create(wd); var vlr = Vector256.Create(lr); var vmu = Vector256.Create(mu);
            for (; i + 8 <= w.Length; i += 8)
            {
                var wi = Vector256.Create(w.Slice(i, 8));
                var g = vs * Vector256.Create(gSum.Slice(i, 8)) + vwd * wi;
                var vi = first ? g : vmu * Vector256.Create(v.Slice(i, 8)) + g;
                vi.CopyTo(v.Slice(i, 8));
                var step = nesterov ? g + vmu * vi : vi;
                var next = wi - vlr * step;
                next.CopyTo(w.Slice(i, 8));
                var d = next - wi;
                eu += d * d; ew += next * next;
            }
        }
        double tu = 0, tw = 0;
        for (; i < w.Length; i++)
        {
            float g = scale * gSum[i] + wd * w[i];
            float vi = first ? g : mu * v[i] + g;
            v[i] = vi;
            float step = nesterov ? g + mu * vi : vi;
            float next = w[i] - lr * step;
            tu += (double)(next - w[i]) * (next - w[i]); tw += (double)next * next;
            w[i] = next;
        }
        return Flush(eu, ew, tu, tw);
    }

    // torch.optim.Adam (L2 weight decay added to g) / AdamW (decoupled: w ← w − ηλw):
    // m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;  w ← w − η·(m/(1−β₁ᵗ)) / (√(v/(1−β₂ᵗ)) + ε)
    private Energy Adam(Span<float> w, ReadOnlySpan<float> gSum, Span<float> m, Span<float> v, float scale, OptimizerSettings s, bool decoupled)
    {
        float b1 = s.Beta1, b2 = s.Beta2, lr = s.LearningRate, eps = s.Epsilon, wd = s.WeightDecay;
        float c1 = 1f / (1f - MathF.Pow(b1, Steps));
        float c2 = 1f / (1f - MathF.Pow(b2, Steps));
        float decay = decoupled ? 1f - lr * wd : 1f;
        float l2 = decoupled ? 0f : wd;
        int i = 0;
        Vector256<float> eu = default, ew = default;
        if (Vector256.IsHardwareAccelerated)
        {
            var vs = Vector256.Create(scale); var vl2 = Vector256.Create(l2); var vb1 = Vector256.Create(b1); var vb2 = Vector256.Create(b2);
            var v1b1 = Vector256.Create(1f - b1); var v1b2 = Vector256.Create(1f - b2); var vc1 = Vector256.Create(c1); var vc2 = Vector256.Create(c2);
            var vdecay = Vector256.Create(decay); var vlr = Vector256.Create(lr); var veps = Vector256.Create(eps);
            for (; i + 8 <= w.Length; i += 8)
            {
                var wi = Vector256.Create(w.Slice(i, 8));
                var g = vs * Vector256.Create(gSum.Slice(i, 8)) + vl2 * wi;
                var mi = vb1 * Vector256.Create(m.Slice(i, 8)) + v1b1 * g;
                var vi = vb2 * Vector256.Create(v.Slice(i, 8)) + v1b2 * g * g;
                mi.CopyTo(m.Slice(i, 8)); vi.CopyTo(v.Slice(i, 8));
                var next = wi * vdecay - vlr * (mi * vc1) / (Vector256.Sqrt(vi * vc2) + veps);
                next.CopyTo(w.Slice(i, 8));
                var d = next - wi;
                eu += d * d; ew += next * next;
            }
        }
        double tu = 0, tw = 0;
        for (; i < w.Length; i++)
        {
            float g = scale * gSum[i] + l2 * w[i];
            float mi = b1 * m[i] + (1f - b1) * g;
            float vi = b2 * v[i] + (1f - b2) * g * g;
            m[i] = mi; v[i] = vi;
            float next = w[i] * decay - lr * (mi * c1) / (MathF.Sqrt(vi * c2) + eps);
            tu += (double)(next - w[i]) * (next - w[i]); tw += (double)next * next;
            w[i] = next;
        }
        return Flush(eu, ew, tu, tw);
    }
}
