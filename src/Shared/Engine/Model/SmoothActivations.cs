namespace DistributedNN.Model;

/// <summary>
/// The activations of today's networks beyond the tutorial's, as torch.nn defines them: LeakyReLU (slope 0.01), ELU
/// (α = 1), GELU (the exact form, 0.5·z·(1 + erf(z/√2))) and SiLU (z·σ(z)). Element by element in double, rounded once
/// to float: one algorithm on every kernel path, so every path gives the same bits. GELU and SiLU are not monotonic, so
/// their derivative is computed from z, which their layers keep (<see cref="NeedsZ"/>); LeakyReLU's and ELU's from a.
/// </summary>
internal static class SmoothActivations
{
    public const double LeakySlope = 0.01, EluAlpha = 1.0;
    private const double InverseSqrt2 = 0.70710678118654752440, InverseSqrt2Pi = 0.39894228040143267794;

    /// <summary>Whether a' needs z (the layer keeps it): GELU and SiLU.</summary>
    public static bool NeedsZ(Activation a) => a is Activation.GELU or Activation.SiLU;

    public static bool Handles(Activation a) => a is Activation.LeakyReLU or Activation.ELU or Activation.GELU or Activation.SiLU;

    /// <summary>a = act(z + bias) over a row, in place.</summary>
    public static unsafe void ForwardRow(Activation act, float* row, float* bias, int n)
    {
        for (int j = 0; j < n; j++)
        {
            double z = row[j] + bias[j];
            row[j] = (float)(act switch
            {
                Activation.LeakyReLU => z > 0 ? z : LeakySlope * z,
                Activation.ELU => z > 0 ? z : EluAlpha * (Math.Exp(z) - 1),
                Activation.GELU => 0.5 * z * (1 + Erf(z * InverseSqrt2)),
                Activation.SiLU => z * Sigmoid(z),
                _ => throw new ArgumentOutOfRangeException(nameof(act)),
            });
        }
    }

    /// <summary>δ = g ⊙ a'(z), over g; <paramref name="a"/> the outputs, <paramref name="z"/> the inputs (null unless <see cref="NeedsZ"/>).</summary>
    public static unsafe void BackwardRow(Activation act, float* a, float* z, float* g, int n)
    {
        for (int j = 0; j < n; j++)
        {
            double d = act switch
            {
                Activation.LeakyReLU => a[j] > 0 ? 1 : LeakySlope,
                Activation.ELU => a[j] > 0 ? 1 : a[j] + EluAlpha,
                Activation.GELU => 0.5 * (1 + Erf(z[j] * InverseSqrt2)) + z[j] * InverseSqrt2Pi * Math.Exp(-0.5 * z[j] * z[j]),
                Activation.SiLU => SiLUSlope(z[j]),
                _ => throw new ArgumentOutOfRangeException(nameof(act)),
            };
            g[j] = (float)(g[j] * d);
        }
    }

    private static double Sigmoid(double z) => z >= 0 ? 1 / (1 + Math.Exp(-z)) : Math.Exp(z) / (1 + Math.Exp(z));

    private static double SiLUSlope(double z)
    {
        double s = Sigmoid(z);
        return s * (1 + z * (1 - s));
    }

    /// <summary>
    /// erf in double: the Maclaurin series below |x| = 2.5 (terms until they stop mattering, fewer than 60), the
    /// continued fraction of erfc above (Lentz), 1 − erfc; within a few units of 10⁻¹⁶ — far inside a float.
    /// </summary>
    public static double Erf(double x)
    {
        if (double.IsNaN(x)) return x;
        double ax = Math.Abs(x);
        if (ax < 2.5)
        {
            // erf x = 2/√π Σ (−1)ⁿ x^(2n+1) / (n! (2n+1))
            double term = ax, sum = ax, x2 = ax * ax;
            for (int k = 1; k < 100; k++)
            {
                term *= -x2 / k;
                double add = term / (2 * k + 1);
                sum += add;
                if (Math.Abs(add) < 1e-17 * Math.Abs(sum)) break;
            }
            return Math.CopySign(sum * 1.12837916709551257390, x);
        }
        if (ax > 6) return Math.CopySign(1, x);
        // erfc x = e^(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + …)))))  (modified Lentz)
        double tiny = 1e-300, f = ax, c = ax, d = 0;
        for (int k = 1; k < 300; k++)
        {
            double an = k * 0.5;
            d = ax + an * d;
            d = Math.Abs(d) < tiny ? tiny : d;
            c = ax + an / c;
            c = Math.Abs(c) < tiny ? tiny : c;
            d = 1 / d;
            double delta = c * d;
            f *= delta;
            if (Math.Abs(delta - 1) < 1e-16) break;
        }
        double erfc = Math.Exp(-ax * ax) / (f * 1.77245385090551602730);
        return Math.CopySign(1 - erfc, x);
    }
}
