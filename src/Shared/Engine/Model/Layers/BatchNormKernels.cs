using System.Runtime.Intrinsics;
using DistributedNN.Numerics;

namespace DistributedNN.Model.Layers;

/// <summary>
/// <see cref="BatchNormLayer"/>'s loops without changing a bit. Its sums are serial chains (per channel, rows then positions
/// in order, in double): four channels' chains now run side by side, each exactly as before, so the CPU overlaps them
/// instead of waiting on one addition at a time. Its element-wise steps run four values per 256-bit vector of doubles —
/// the same IEEE operations per element in the same order (nothing fused), then the same rounding to float.
/// A channel's values: <c>x[r · stride + c · area + p]</c>. The sums take a group of 1 to 4 channels c … c + group − 1;
/// in a smaller group the missing channels' chains run over channel c again and are not written.
/// </summary>
internal static unsafe class BatchNormKernels
{
    public const int Group = 4;

    private static bool Vectors => Kernels.Path != KernelPath.Scalar && Vector256.IsHardwareAccelerated;

    // the offsets of channels c + 1 … c + 3 from channel c (0 for a channel the group lacks)
    private static (int, int, int) Next(int group, int area) => (group > 1 ? area : 0, group > 2 ? 2 * area : 0, group > 3 ? 3 * area : 0);

    private static void Write(int group, double* to, double v0, double v1, double v2, double v3)
    {
        to[0] = v0;
        if (group > 1) to[1] = v1;
        if (group > 2) to[2] = v2;
        if (group > 3) to[3] = v3;
    }

    /// <summary>Σ x of the group's channels over rows [from, to) × positions, each from zero in order.</summary>
    public static void Sums(float* x, long stride, int area, int from, int to, int c, int group, double* sums)
    {
        var (o1, o2, o3) = Next(group, area);
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (int r = from; r < to; r++)
        {
            float* x0 = x + r * stride + (long)c * area, x1 = x0 + o1, x2 = x0 + o2, x3 = x0 + o3;
            for (int p = 0; p < area; p++)
            {
                s0 += x0[p]; s1 += x1[p]; s2 += x2[p]; s3 += x3[p];
            }
        }
        Write(group, sums, s0, s1, s2, s3);
    }

    /// <summary>Σ (x − mean)² of the group's channels over rows [from, to) × positions, each from zero in order.</summary>
    public static void Squares(float* x, long stride, int area, int from, int to, int c, int group, double* means, double* squares)
    {
        var (o1, o2, o3) = Next(group, area);
        double m0 = means[0], m1 = group > 1 ? means[1] : m0, m2 = group > 2 ? means[2] : m0, m3 = group > 3 ? means[3] : m0;
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (int r = from; r < to; r++)
        {
            float* x0 = x + r * stride + (long)c * area, x1 = x0 + o1, x2 = x0 + o2, x3 = x0 + o3;
            for (int p = 0; p < area; p++)
            {
                double d0 = x0[p] - m0, d1 = x1[p] - m1, d2 = x2[p] - m2, d3 = x3[p] - m3;
                s0 += d0 * d0; s1 += d1 * d1; s2 += d2 * d2; s3 += d3 * d3;
            }
        }
        Write(group, squares, s0, s1, s2, s3);
    }

    /// <summary>
    /// Σ g and Σ g·x̂ with g = δ·γ, for the group's channels over rows [from, to) × positions, each from zero in order (in double).
    /// </summary>
    public static void GradientSums(float* delta, float* normalized, long stride, int area, int from, int to, int c, int group, float* gamma, double* g, double* gx)
    {
        var (o1, o2, o3) = Next(group, area);
        double y0 = gamma[c], y1 = group > 1 ? gamma[c + 1] : y0, y2 = group > 2 ? gamma[c + 2] : y0, y3 = group > 3 ? gamma[c + 3] : y0;
        double g0 = 0, g1 = 0, g2 = 0, g3 = 0, h0 = 0, h1 = 0, h2 = 0, h3 = 0;
        for (int r = from; r < to; r++)
        {
            long at = r * stride + (long)c * area;
            float* d0 = delta + at, d1 = d0 + o1, d2 = d0 + o2, d3 = d0 + o3;
            float* n0 = normalized + at, n1 = n0 + o1, n2 = n0 + o2, n3 = n0 + o3;
            for (int p = 0; p < area; p++)
            {
                double v0 = d0[p] * y0, v1 = d1[p] * y1, v2 = d2[p] * y2, v3 = d3[p] * y3;
                g0 += v0; g1 += v1; g2 += v2; g3 += v3;
                h0 += v0 * n0[p]; h1 += v1 * n1[p]; h2 += v2 * n2[p]; h3 += v3 * n3[p];
            }
        }
        Write(group, g, g0, g1, g2, g3);
        Write(group, gx, h0, h1, h2, h3);
    }

    /// <summary>Σ δ·x̂ and Σ δ (in float) for the group's channels over rows [from, to) × positions, each from zero in order.</summary>
    public static void DeltaSums(float* delta, float* normalized, long stride, int area, int from, int to, int c, int group, float* scaled, float* shifted)
    {
        var (o1, o2, o3) = Next(group, area);
        float a0 = 0, a1 = 0, a2 = 0, a3 = 0, b0 = 0, b1 = 0, b2 = 0, b3 = 0;
        for (int r = from; r < to; r++)
        {
            long at = r * stride + (long)c * area;
            float* d0 = delta + at, d1 = d0 + o1, d2 = d0 + o2, d3 = d0 + o3;
            float* n0 = normalized + at, n1 = n0 + o1, n2 = n0 + o2, n3 = n0 + o3;
            for (int p = 0; p < area; p++)
            {
                a0 += d0[p] * n0[p]; a1 += d1[p] * n1[p]; a2 += d2[p] * n2[p]; a3 += d3[p] * n3[p];
                b0 += d0[p]; b1 += d1[p]; b2 += d2[p]; b3 += d3[p];
            }
        }
        scaled[0] = a0; shifted[0] = b0;
        if (group > 1) (scaled[1], shifted[1]) = (a1, b1);
        if (group > 2) (scaled[2], shifted[2]) = (a2, b2);
        if (group > 3) (scaled[3], shifted[3]) = (a3, b3);
    }

    /// <summary>x̂ = (float)((x − mean)·inverse) and y = γ·x̂ + β (in float) over n values.</summary>
    public static void Normalize(float* x, float* normalized, float* output, int n, double mean, double inverse, float gamma, float beta)
    {
        int i = 0;
        if (Vectors)
        {
            Vector256<double> m = Vector256.Create(mean), v = Vector256.Create(inverse);
            Vector256<float> g = Vector256.Create(gamma), b = Vector256.Create(beta);
            for (; i + 8 <= n; i += 8)
            {
                var (lo, hi) = Vector256.Widen(Vector256.Load(x + i));
                var xh = Vector256.Narrow((lo - m) * v, (hi - m) * v);
                xh.Store(normalized + i);
                (g * xh + b).Store(output + i);
            }
        }
        for (; i < n; i++)
        {
            normalized[i] = (float)((x[i] - mean) * inverse);
            output[i] = gamma * normalized[i] + beta;
        }
    }

    /// <summary>dx = (float)(inverse·(δ·γ − mean(g) − x̂·mean(g·x̂))) over n values (in double).</summary>
    public static void InputGradient(float* delta, float* normalized, float* dx, int n, double gamma, double meanG, double meanGx, double inverse)
    {
        int i = 0;
        if (Vectors)
        {
            Vector256<double> y = Vector256.Create(gamma), mg = Vector256.Create(meanG), mgx = Vector256.Create(meanGx), v = Vector256.Create(inverse);
            for (; i + 8 <= n; i += 8)
            {
                var (d0, d1) = Vector256.Widen(Vector256.Load(delta + i));
                var (n0, n1) = Vector256.Widen(Vector256.Load(normalized + i));
                Vector256.Narrow(v * (d0 * y - mg - n0 * mgx), v * (d1 * y - mg - n1 * mgx)).Store(dx + i);
            }
        }
        for (; i < n; i++) dx[i] = (float)(inverse * ((double)delta[i] * gamma - meanG - normalized[i] * meanGx));
    }
}
