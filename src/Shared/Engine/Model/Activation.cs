using DistributedNN.Numerics;
using System.Runtime.Intrinsics;

namespace DistributedNN.Model;

/// <summary>The nonlinearity a(z) a layer applies after z = W·a_prev + b.</summary>
public enum Activation
{
    /// <summary>a = z.</summary>
    Identity,
    /// <summary>Logistic sigmoid a = 1 / (1 + e^−z); a' = a(1 − a) ≤ 0.25 — the root of the vanishing gradient.</summary>
    Sigmoid,
    /// <summary>a = max(0, z); a' = 1 for z &gt; 0, else 0.</summary>
    ReLU,
    /// <summary>a = tanh z; a' = 1 − a².</summary>
    Tanh,
    /// <summary>a_j = e^{z_j} / Σ_k e^{z_k} over a row; output layer only.</summary>
    Softmax,
    /// <summary>a = z for z &gt; 0, else 0.01·z (torch.nn.LeakyReLU).</summary>
    LeakyReLU,
    /// <summary>a = z for z &gt; 0, else e^z − 1 (torch.nn.ELU, α = 1); a' = a + 1 below 0.</summary>
    ELU,
    /// <summary>a = z·Φ(z) = 0.5·z·(1 + erf(z/√2)) (torch.nn.GELU, exact).</summary>
    GELU,
    /// <summary>a = z·σ(z) (torch.nn.SiLU, "swish").</summary>
    SiLU,
}

public static class Activations
{
    public static string Name(this Activation a) => a switch
    {
        Activation.Identity => "identity",
        Activation.Sigmoid => "sigmoid",
        Activation.ReLU => "relu",
        Activation.Tanh => "tanh",
        Activation.Softmax => "softmax",
        Activation.LeakyReLU => "leaky-relu",
        Activation.ELU => "elu",
        Activation.GELU => "gelu",
        Activation.SiLU => "silu",
        _ => throw new ArgumentOutOfRangeException(nameof(a)),
    };

    public static bool TryParse(string? text, out Activation activation)
    {
        switch (text?.Trim().ToLowerInvariant())
        {
            case "identity" or "linear" or "none": activation = Activation.Identity; return true;
            case "sigmoid" or "logistic": activation = Activation.Sigmoid; return true;
            case "relu": activation = Activation.ReLU; return true;
            case "tanh": activation = Activation.Tanh; return true;
            case "softmax": activation = Activation.Softmax; return true;
            case "leaky-relu" or "leakyrelu" or "leaky_relu": activation = Activation.LeakyReLU; return true;
            case "elu": activation = Activation.ELU; return true;
            case "gelu": activation = Activation.GELU; return true;
            case "silu" or "swish": activation = Activation.SiLU; return true;
            default: activation = default; return false;
        }
    }

    /// <summary>
    /// a = act(z + bias) over one row, in place (the row holds z on entry). Rows are processed
    /// one at a time so an element's arithmetic depends only on its column, never on the batch.
    /// </summary>
    public static unsafe void ForwardRow(Activation act, float* row, float* bias, int n)
    {
        switch (act)
        {
            case Activation.Identity: Elementwise.AddInto(row, bias, n); break;
            case Activation.ReLU: BiasReLU(row, bias, n); break;
            case Activation.Sigmoid: BiasLanes<Sigmoid8>(row, bias, n); break;
            case Activation.Tanh: BiasLanes<Tanh8>(row, bias, n); break;
            case Activation.Softmax:
                Elementwise.AddInto(row, bias, n);
                SoftmaxInPlace(row, n);
                break;
            default: SmoothActivations.ForwardRow(act, row, bias, n); break;
        }
    }

    /// <summary>
    /// δ = g ⊙ a'(z), written over g, for element-wise activations, with a' expressed through the
    /// stored output a (so z need not be kept). Softmax is handled by <see cref="SoftmaxBackwardRow"/>.
    /// </summary>
    /// <param name="z">the row's inputs z + b, for the activations whose a' needs them (<see cref="NeedsZ"/>); else unused</param>
    public static unsafe void BackwardRow(Activation act, float* a, float* g, int n, float* z = null)
    {
        switch (act)
        {
            case Activation.Identity: break;
            case Activation.ReLU: ReLUBackward(a, g, n); break;
            case Activation.Sigmoid: SigmoidBackward(a, g, n); break;
            case Activation.Tanh: TanhBackward(a, g, n); break;
            case Activation.Softmax: SoftmaxBackwardRow(a, g, n); break;
            default: SmoothActivations.BackwardRow(act, a, z, g, n); break;
        }
    }

    /// <summary>Whether a' needs z as well as a (GELU, SiLU: not monotonic): their layers keep z.</summary>
    public static bool NeedsZ(this Activation a) => SmoothActivations.NeedsZ(a);

    /// <summary>The names --activation and model specs take, in help order.</summary>
    public const string HiddenNames = "relu, sigmoid, tanh, identity, leaky-relu, elu, gelu, silu";

    /// <summary>δ_j = s_j (g_j − Σ_k g_k s_k): the softmax Jacobian applied to g (no fusion with a loss).</summary>
    public static unsafe void SoftmaxBackwardRow(float* s, float* g, int n)
    {
        double dot = 0;
        for (int k = 0; k < n; k++) dot += (double)g[k] * s[k];
        float d = (float)dot;
        for (int j = 0; j < n; j++) g[j] = s[j] * (g[j] - d);
    }

    /// <summary>Numerically stable softmax of one row: subtract the max before exponentiating.</summary>
    public static unsafe void SoftmaxInPlace(float* z, int n)
    {
        float max = float.NegativeInfinity;
        for (int j = 0; j < n; j++) max = MathF.Max(max, z[j]);
        float sum = 0f;
        for (int j = 0; j < n; j++) { float e = MathF.Exp(z[j] - max); z[j] = e; sum += e; }
        float inv = 1f / sum;
        for (int j = 0; j < n; j++) z[j] *= inv;
    }

    private static unsafe void BiasReLU(float* row, float* bias, int n)
    {
        int j = 0;
        if (Kernels.Path == KernelPath.Vector512)
            for (; j + 16 <= n; j += 16) Vector512.Max(Vector512.Load(row + j) + Vector512.Load(bias + j), Vector512<float>.Zero).Store(row + j);
        if (Kernels.Path != KernelPath.Scalar)
            for (; j + 8 <= n; j += 8) Vector256.Max(Vector256.Load(row + j) + Vector256.Load(bias + j), Vector256<float>.Zero).Store(row + j);
        for (; j < n; j++) row[j] = MathF.Max(row[j] + bias[j], 0f);
    }

    // The vector Exp and MathF.Exp may differ in the last bit, so the tail goes through a
    // padded vector too: every element meets the same algorithm whatever the row length — and
    // whatever the kernel path: even the scalar path uses Vector256.Exp (in software where the CPU
    // has no 256-bit vectors), so every path gives the same bits. Sigmoid and tanh both run this way.
    private static unsafe void BiasLanes<TLanes>(float* row, float* bias, int n) where TLanes : ILanes8
    {
        int j = 0;
        for (; j + 8 <= n; j += 8) TLanes.Apply(Vector256.Load(row + j) + Vector256.Load(bias + j)).Store(row + j);
        if (j < n)
        {
            float* tail = stackalloc float[8];
            for (int t = 0; t < 8; t++) tail[t] = j + t < n ? row[j + t] + bias[j + t] : 0f;
            TLanes.Apply(Vector256.Load(tail)).Store(tail);
            for (int t = 0; j + t < n; t++) row[j + t] = tail[t];
        }
    }

    /// <summary>An activation over 8 lanes, one algorithm on every kernel path (<see cref="BiasLanes{TLanes}"/>).</summary>
    private interface ILanes8
    {
        static abstract Vector256<float> Apply(Vector256<float> z);
    }

    private readonly struct Sigmoid8 : ILanes8
    {
        public static Vector256<float> Apply(Vector256<float> z) => Vector256<float>.One / (Vector256<float>.One + Vector256.Exp(-z));
    }

    private readonly struct Tanh8 : ILanes8
    {
        public static Vector256<float> Apply(Vector256<float> z) => Tanh(z);
    }

    private static unsafe void ReLUBackward(float* a, float* g, int n)
    {
        int j = 0;
        if (Kernels.Path == KernelPath.Vector512)
            for (; j + 16 <= n; j += 16)
                Vector512.ConditionalSelect(Vector512.GreaterThan(Vector512.Load(a + j), Vector512<float>.Zero), Vector512.Load(g + j), Vector512<float>.Zero).Store(g + j);
        if (Kernels.Path != KernelPath.Scalar)
            for (; j + 8 <= n; j += 8)
                Vector256.ConditionalSelect(Vector256.GreaterThan(Vector256.Load(a + j), Vector256<float>.Zero), Vector256.Load(g + j), Vector256<float>.Zero).Store(g + j);
        for (; j < n; j++) g[j] = a[j] > 0f ? g[j] : 0f;
    }

    private static unsafe void SigmoidBackward(float* a, float* g, int n)
    {
        int j = 0;
        if (Kernels.Path == KernelPath.Vector512)
            for (; j + 16 <= n; j += 16)
            {
                var av = Vector512.Load(a + j);
                (Vector512.Load(g + j) * (av * (Vector512<float>.One - av))).Store(g + j);
            }
        if (Kernels.Path != KernelPath.Scalar)
            for (; j + 8 <= n; j += 8)
            {
                var av = Vector256.Load(a + j);
                (Vector256.Load(g + j) * (av * (Vector256<float>.One - av))).Store(g + j);
            }
        for (; j < n; j++) g[j] *= a[j] * (1f - a[j]);
    }

    /// <summary>
    /// tanh of 8 lanes: below |z| = 1/4 the odd Taylor series to z¹¹ (the next term is under 10⁻⁹ of the value there),
    /// above it (1 − e)/(1 + e) with e = exp(−2|z|), where 1 − e loses nothing (e ≤ 0.61); the sign put back. A few ulp
    /// from the exact value; ±∞ give ±1, NaN stays NaN.
    /// </summary>
    private static Vector256<float> Tanh(Vector256<float> z)
    {
        var signBit = Vector256.Create(-0f);
        var x = Vector256.AndNot(z, signBit);
        var one = Vector256<float>.One;
        var e = Vector256.Exp(-(x + x));
        var large = (one - e) / (one + e);
        var x2 = x * x;
        var p = Vector256.Create(-1382f / 155925f);
        p = p * x2 + Vector256.Create(62f / 2835f);
        p = p * x2 + Vector256.Create(-17f / 315f);
        p = p * x2 + Vector256.Create(2f / 15f);
        p = p * x2 + Vector256.Create(-1f / 3f);
        var small = x + x * x2 * p;
        return Vector256.ConditionalSelect(Vector256.LessThan(x, Vector256.Create(0.25f)), small, large) | (z & signBit);
    }

    private static unsafe void TanhBackward(float* a, float* g, int n)
    {
        int j = 0;
        if (Kernels.Path == KernelPath.Vector512)
            for (; j + 16 <= n; j += 16)
            {
                var av = Vector512.Load(a + j);
                (Vector512.Load(g + j) * (Vector512<float>.One - av * av)).Store(g + j);
            }
        if (Kernels.Path != KernelPath.Scalar)
            for (; j + 8 <= n; j += 8)
            {
                var av = Vector256.Load(a + j);
                (Vector256.Load(g + j) * (Vector256<float>.One - av * av)).Store(g + j);
            }
        for (; j < n; j++) g[j] *= 1f - a[j] * a[j];
    }
}
