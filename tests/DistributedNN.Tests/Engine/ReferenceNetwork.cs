using DistributedNN.Model;

namespace DistributedNN.Tests.Engine;

/// <summary>
/// An independent, deliberately naive double-precision forward pass and loss, written straight
/// from the formulas, used as the reference the engine's float backprop is checked against.
/// </summary>
internal static class ReferenceNetwork
{
    public static double Loss(NetworkSpec spec, double[] w, float[] input, int[] labels, int rows)
    {
        double total = 0;
        for (int r = 0; r < rows; r++)
        {
            var a = new double[spec.InputSize];
            for (int i = 0; i < a.Length; i++) a[i] = input[r * spec.InputSize + i];
            double[] z = a;
            for (int l = 0; l < spec.Layers.Count; l++)
            {
                var layer = spec.Layers[l];
                z = new double[layer.Outputs];
                for (int o = 0; o < layer.Outputs; o++)
                {
                    double s = w[spec.BiasOffset(l) + o];
                    for (int i = 0; i < layer.Inputs; i++) s += w[spec.WeightOffset(l) + o * layer.Inputs + i] * a[i];
                    z[o] = s;
                }
                a = Activate(layer.Activation, z);
            }
            total += SampleLoss(spec.Loss, z, a, labels[r]);
        }
        return total;
    }

    internal static double[] Activate(Activation act, double[] z)
    {
        var a = new double[z.Length];
        switch (act)
        {
            case Activation.Identity: Array.Copy(z, a, z.Length); break;
            case Activation.Sigmoid: for (int i = 0; i < z.Length; i++) a[i] = 1 / (1 + Math.Exp(-z[i])); break;
            case Activation.ReLU: for (int i = 0; i < z.Length; i++) a[i] = Math.Max(0, z[i]); break;
            case Activation.Tanh: for (int i = 0; i < z.Length; i++) a[i] = Math.Tanh(z[i]); break;
            case Activation.LeakyReLU: for (int i = 0; i < z.Length; i++) a[i] = z[i] > 0 ? z[i] : 0.01 * z[i]; break;
            case Activation.ELU: for (int i = 0; i < z.Length; i++) a[i] = z[i] > 0 ? z[i] : Math.Exp(z[i]) - 1; break;
            // erf from the engine, itself checked against PyTorch's values (ActivationReferenceTests)
            case Activation.GELU: for (int i = 0; i < z.Length; i++) a[i] = 0.5 * z[i] * (1 + SmoothActivations.Erf(z[i] / Math.Sqrt(2))); break;
            case Activation.SiLU: for (int i = 0; i < z.Length; i++) a[i] = z[i] / (1 + Math.Exp(-z[i])); break;
            case Activation.Softmax:
                double max = z.Max(), sum = 0;
                for (int i = 0; i < z.Length; i++) sum += a[i] = Math.Exp(z[i] - max);
                for (int i = 0; i < z.Length; i++) a[i] /= sum;
                break;
        }
        return a;
    }

    internal static double SampleLoss(LossKind loss, double[] z, double[] a, int label)
    {
        int n = a.Length;
        double Target(int k) => n == 1 ? label : (k == label ? 1 : 0);
        switch (loss)
        {
            case LossKind.CrossEntropy:
                double max = z.Max();
                return max + Math.Log(z.Sum(v => Math.Exp(v - max))) - z[label];
            case LossKind.SumSquaredError:
                return 0.5 * Enumerable.Range(0, n).Sum(k => (a[k] - Target(k)) * (a[k] - Target(k)));
            default:
                return Enumerable.Range(0, n).Sum(k => (a[k] - Target(k)) * (a[k] - Target(k))) / n;
        }
    }
}
