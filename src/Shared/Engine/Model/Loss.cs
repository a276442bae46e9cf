namespace DistributedNN.Model;

/// <summary>
/// How the error of one sample is measured; a step's loss is the mean over the mini-batch
/// (as PyTorch's default reduction), so a learning rate means the same here as there.
/// </summary>
public enum LossKind
{
    /// <summary>E = ½ Σ_k (t_k − a_k)²: the tutorial's sum of squared errors; dE/da = a − t.</summary>
    SumSquaredError,
    /// <summary>E = (1/K) Σ_k (t_k − a_k)²: PyTorch's MSELoss; dE/da = 2(a − t)/K.</summary>
    MeanSquaredError,
    /// <summary>E = −log softmax(z)_t; with the softmax output fused, dE/dz = a − t.</summary>
    CrossEntropy,
}

public static class Losses
{
    public static string Name(this LossKind loss) => loss switch
    {
        LossKind.SumSquaredError => "sse",
        LossKind.MeanSquaredError => "mse",
        LossKind.CrossEntropy => "cross-entropy",
        _ => throw new ArgumentOutOfRangeException(nameof(loss)),
    };

    public static bool TryParse(string? text, out LossKind loss)
    {
        switch (text?.Trim().ToLowerInvariant())
        {
            case "sse" or "sum-squared-error": loss = LossKind.SumSquaredError; return true;
            case "mse" or "mean-squared-error": loss = LossKind.MeanSquaredError; return true;
            case "ce" or "cross-entropy" or "crossentropy" or "softmax-cross-entropy": loss = LossKind.CrossEntropy; return true;
            default: loss = default; return false;
        }
    }

    /// <summary>
    /// The loss of one sample with one-hot target <paramref name="label"/>, and dE/dz of the output
    /// layer written into <paramref name="delta"/>. <paramref name="a"/> is the output after the
    /// activation, <paramref name="z"/> before it (cross-entropy reads z for a stable log-sum-exp).
    /// </summary>
    /// <param name="smoothing">cross-entropy's label smoothing ε: targets (1 − ε)·one-hot + ε/n</param>
    public static unsafe double SampleLossAndDelta(LossKind loss, Activation output, float* z, float* a, int label, float* delta, int n, float smoothing = 0f)
    {
        double e = 0;
        switch (loss)
        {
            case LossKind.CrossEntropy when smoothing > 0:
                // E = logΣe^{z} − Σ t_k z_k;  dE/dz_k = a_k − t_k
                float share = smoothing / n;
                double dot = 0;
                for (int k = 0; k < n; k++)
                {
                    delta[k] = a[k] - share;
                    dot += z[k];
                }
                delta[label] -= 1f - smoothing;
                return LogSumExp(z, n) - (1.0 - smoothing) * z[label] - smoothing * dot / n;
            case LossKind.CrossEntropy:
                // softmax + cross-entropy fused: dE/dz_k = a_k − t_k; E = logΣe^{z} − z_t.
                for (int k = 0; k < n; k++) delta[k] = a[k];
                delta[label] -= 1f;
                return LogSumExp(z, n) - z[label];
            case LossKind.SumSquaredError:
                for (int k = 0; k < n; k++)
                {
                    float d = a[k] - Target(k, label, n);
                    e += (double)d * d;
                    delta[k] = d;
                }
                e *= 0.5;
                break;
            case LossKind.MeanSquaredError:
                float scale = 2f / n;
                for (int k = 0; k < n; k++)
                {
                    float d = a[k] - Target(k, label, n);
                    e += (double)d * d;
                    delta[k] = scale * d;
                }
                e /= n;
                break;
            default: throw new ArgumentOutOfRangeException(nameof(loss));
        }
        Activations.BackwardRow(output, a, delta, n, z);
        return e;
    }

    /// <summary>The loss of one sample, without the gradient (evaluation).</summary>
    public static unsafe double SampleLoss(LossKind loss, float* z, float* a, int label, int n)
    {
        switch (loss)
        {
            case LossKind.CrossEntropy: return LogSumExp(z, n) - z[label];
            case LossKind.SumSquaredError:
            case LossKind.MeanSquaredError:
                double e = 0;
                for (int k = 0; k < n; k++)
                {
                    float d = a[k] - Target(k, label, n);
                    e += (double)d * d;
                }
                return loss == LossKind.SumSquaredError ? 0.5 * e : e / n;
            default: throw new ArgumentOutOfRangeException(nameof(loss));
        }
    }

    /// <summary>
    /// The target t_k of output k for class <paramref name="label"/>: one-hot over n ≥ 2 outputs; with a
    /// single output the label itself (0 or 1) is the target, the usual binary convention.
    /// </summary>
    public static float Target(int k, int label, int n) => n == 1 ? label : (k == label ? 1f : 0f);

    /// <summary>The predicted class of an output row: the arg-max, or a ≥ ½ for a single output.</summary>
    public static unsafe int Predict(float* a, int n)
    {
        if (n == 1) return a[0] >= 0.5f ? 1 : 0;
        int best = 0;
        for (int j = 1; j < n; j++) if (a[j] > a[best]) best = j;
        return best;
    }

    /// <summary>Whether <paramref name="label"/> is a valid class for n outputs.</summary>
    public static bool IsValidLabel(int label, int n) => n == 1 ? label is 0 or 1 : (uint)label < (uint)n;

    private static unsafe double LogSumExp(float* z, int n)
    {
        double max = double.NegativeInfinity;
        for (int k = 0; k < n; k++) max = System.Math.Max(max, z[k]);
        double s = 0;
        for (int k = 0; k < n; k++) s += System.Math.Exp(z[k] - max);
        return max + System.Math.Log(s);
    }
}
