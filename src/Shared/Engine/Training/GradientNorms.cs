using DistributedNN.Model;
using DistributedNN.Numerics;

namespace DistributedNN.Training;

/// <summary>Per-layer L2 norms of a gradient in the flat layout: the vanishing gradient made visible.</summary>
public static class GradientNorms
{
    /// <summary>‖scale·g_l‖₂ for each layer l (its W and b together; batch normalisation's statistics are no gradient).</summary>
    public static void Compute(NetworkSpec spec, ReadOnlySpan<float> gradient, float scale, Span<double> norms)
    {
        if (norms.Length != spec.Layers.Count) throw new ArgumentException("one norm per layer");
        for (int l = 0; l < spec.Layers.Count; l++)
        {
            var (offset, length) = spec.TrainedRange(l);
            norms[l] = System.Math.Sqrt(Elementwise.SumOfSquares(gradient.Slice(offset, length))) * System.Math.Abs(scale);
        }
    }

    public static double[] Compute(NetworkSpec spec, ReadOnlySpan<float> gradient, float scale = 1f)
    {
        var norms = new double[spec.Layers.Count];
        Compute(spec, gradient, scale, norms);
        return norms;
    }
}
