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

    public void Step(Span<float> weights, ReadOnlySpan<float> gradientSum, float gradientScale)
    {
        if (weights.Length != gradientSum.Length) throw new ArgumentException("weights and gradient differ in length");
        Steps++;
        var s = Settings;
        switch (s.Kind)
        {
            case OptimizerKind.Sgd: Sgd(weights, gradientSum, gradientScale, s.LearningRate, s.WeightDecay); break;
            case OptimizerKind.Momentum:
            case OptimizerKind.Nesterov:
                Momentum(weights, gradientSum, Velocity, gradientScale, s.LearningRate, s.Momentum, s.WeightDecay, s.Kind == OptimizerKind.Nesterov, Steps == 1);
                break;
            case OptimizerKind.Adam:
            case OptimizerKind.AdamW:
                Adam(weights, gradientSum, gradientScale, s, s.Kind == OptimizerKind.AdamW);
                break;
        }
    }

    // g = s·g + λw;  w ← w − η·g
    private static void Sgd(Span<float> w, ReadOnlySpan<float> gSum, float scale, float lr, float wd)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var vs = Vector256.Create(scale); var vwd = Vector256.Create(wd); var vlr = Vector256.Create(lr);
            for (; i + 8 <= w.Length; i += 8)
            {
                var wi = Vector256.Create(w.Slice(i, 8));
                var g = vs * Vector256.Create(gSum.Slice(i, 8)) + vwd * wi;
                (wi - vlr * g).CopyTo(w.Slice(i, 8));
            }
        }
        for (; i < w.Length; i++)
        {
            float g = scale * gSum[i] + wd * w[i];
            w[i] = w[i] - lr * g;
        }
    }

    // torch.optim.SGD: g = s·g + λw;  v ← μv + g (v = g on the first step);  g ← g + μv (Nesterov) or v;  w ← w − η·g
    private static void Momentum(Span<float> w, ReadOnlySpan<float> gSum, Span<float> v, float scale, float lr, float mu, float wd, bool nesterov, bool first)
    {
        int i = 0;
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
                (wi - vlr * step).CopyTo(w.Slice(i, 8));
            }
        }
        for (; i < w.Length; i++)
        {
            float g = scale * gSum[i] + wd * w[i];
            float vi = first ? g : mu * v[i] + g;
            v[i] = vi;
            float step = nesterov ? g + mu * vi : vi;
            w[i] = w[i] - lr * step;
        }
    }

    // torch.optim.Adam (L2 weight decay added to g) / AdamW (decoupled: w ← w − ηλw):
    // m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;  w ← w − η·(m/(1−β₁ᵗ)) / (√(v/(1−β₂ᵗ)) + ε)
    private void Adam(Span<float> w, ReadOnlySpan<float> gSum, float scale, OptimizerSettings s, bool decoupled)
    {
        var m = Velocity; var v = SecondMoment;
        float b1 = s.Beta1, b2 = s.Beta2, lr = s.LearningRate, eps = s.Epsilon, wd = s.WeightDecay;
        float c1 = 1f / (1f - MathF.Pow(b1, Steps));
        float c2 = 1f / (1f - MathF.Pow(b2, Steps));
        float decay = decoupled ? 1f - lr * wd : 1f;
        float l2 = decoupled ? 0f : wd;
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var vs = Vector256.Create(scale); var vl2 = Vector256.Create(l2); var vb1 = Vector256.Create(b1); var vb2 = Vector256.Create(b2);
            var v1b1 = Vector256.Create(1f - b1); var v1b2 = Vector256.Create(1f - b2); var vc1 = Vector256.Create(c1); var vc2 = Vector256.Create(c2);
            var vdecay = Vector256.Create(decay); var vlr = Vector256.Create(lr); var veps = Vector256.Create(eps);
            for (; i + 8 <= w.Length; i += 8)
            {
                var wi = Vector256.Create(w.Slice(i, 8));
                var g = vs * Vector256.Create(gSum.Slice(i, 8)) + vl2 * wi;
                var mi = vb1 * Vector256.Create(m.AsSpan(i, 8)) + v1b1 * g;
                var vi = vb2 * Vector256.Create(v.AsSpan(i, 8)) + v1b2 * g * g;
                mi.CopyTo(m.AsSpan(i, 8)); vi.CopyTo(v.AsSpan(i, 8));
                (wi * vdecay - vlr * (mi * vc1) / (Vector256.Sqrt(vi * vc2) + veps)).CopyTo(w.Slice(i, 8));
            }
        }
        for (; i < w.Length; i++)
        {
            float g = scale * gSum[i] + l2 * w[i];
            float mi = b1 * m[i] + (1f - b1) * g;
            float vi = b2 * v[i] + (1f - b2) * g * g;
            m[i] = mi; v[i] = vi;
            w[i] = w[i] * decay - lr * (mi * c1) / (MathF.Sqrt(vi * c2) + eps);
        }
    }
}
