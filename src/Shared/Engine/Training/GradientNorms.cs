using System.Runtime.Intrinsics;
using DistributedNN.Model;

namespace DistributedNN.Training;

/// <summary>Per-layer L2 norms of a gradient in the flat layout: the vanishing gradient made visible.</summary>
public static class GradientNorms
{
    /// <summary>‖scale·g_l‖₂ for each layer l (its W and b together).</summary>
    public static void Compute(NetworkSpec spec, ReadOnlySpan<float> gradient, float scale, Span<double> norms)
    {
        if (norms.Length != spec.Layers.Count) throw new ArgumentException("one norm per layer");
        for (int l = 0; l < spec.Layers.Count; l++)
        {
            var (offset, length) = spec.LayerRange(l);
            norms[l] = System.Math.Sqrt(SumOfSquares(gradient.Slice(offset, length))) * System.Math.Abs(scale);
        }
    }

    public static double[] Compute(NetworkSpec spec, ReadOnlySpan<float> gradient, float scale = 1f)
    {
        var norms = new double[spec.Layers.Count];
        Compute(spec, gradient, scale, norms);
        return norms;
    }

    private static double SumOfSquares(ReadOnlySpan<float> x)
    {
        // float lanes over short runs, flushed into a double so long vectors keep their precision
        double total = 0;
        int i = 0;
        while (i + 8 <= x.Length)
        {
            var acc = Vector256<float>.Zero;
            int end = System.Math.Min(x.Length - 7, i + 1024);
            for (; i < end; i += 8)
            {
                var v = Vector256.Create(x.Slice(i, 8));
                acc += v * v;
            }
            total += Vector256.Sum(acc);
        }
        for (; i < x.Length; i++) total += (double)x[i] * x[i];
        return total;
    }
}
