using DistributedNN.Training;

namespace DistributedNN.Tests.Training;

/// <summary>
/// Each optimizer against the update rule of torch.optim written out in double precision,
/// over several steps (so momentum and Adam's bias correction are exercised), on a vector long
/// enough for the SIMD body and the scalar tail (8·k + 3 elements).
/// </summary>
public sealed class OptimizerTests
{
    private const int N = 19;

    private static (float[] W, float[][] Grads) Problem()
    {
        var rng = new Random(4);
        var w = Enumerable.Range(0, N).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var grads = Enumerable.Range(0, 5).Select(_ => Enumerable.Range(0, N).Select(_ => (float)(rng.NextDouble() * 8 - 4)).ToArray()).ToArray();
        return (w, grads);
    }

    [Theory]
    [InlineData(OptimizerKind.Sgd, 0f)]
    [InlineData(OptimizerKind.Sgd, 0.01f)]
    [InlineData(OptimizerKind.Momentum, 0f)]
    [InlineData(OptimizerKind.Momentum, 0.01f)]
    [InlineData(OptimizerKind.Nesterov, 0.01f)]
    [InlineData(OptimizerKind.Adam, 0f)]
    [InlineData(OptimizerKind.Adam, 0.01f)]
    [InlineData(OptimizerKind.AdamW, 0.01f)]
    public void Updates_follow_the_torch_optim_rules(OptimizerKind kind, float weightDecay)
    {
        const double lr = 0.05, mu = 0.9, b1 = 0.9, b2 = 0.999, eps = 1e-8, scale = 0.25; // gradient sums of 4 samples
        var (w, grads) = Problem();
        var opt = new Optimizer(new OptimizerSettings(kind, (float)lr, Momentum: (float)mu, WeightDecay: weightDecay), N);
        var rw = w.Select(x => (double)x).ToArray();
        var v = new double[N]; var m = new double[N]; var s = new double[N];
        for (int t = 1; t <= grads.Length; t++)
        {
            opt.Step(w, grads[t - 1], (float)scale);
            for (int i = 0; i < N; i++)
            {
                double g = scale * grads[t - 1][i];
                switch (kind)
                {
                    case OptimizerKind.Sgd:
                        rw[i] -= lr * (g + weightDecay * rw[i]);
                        break;
                    case OptimizerKind.Momentum:
                    case OptimizerKind.Nesterov:
                        g += weightDecay * rw[i];
                        v[i] = t == 1 ? g : mu * v[i] + g;
                        rw[i] -= lr * (kind == OptimizerKind.Nesterov ? g + mu * v[i] : v[i]);
                        break;
                    default:
                        if (kind == OptimizerKind.AdamW) rw[i] *= 1 - lr * weightDecay;
                        else g += weightDecay * rw[i];
                        m[i] = b1 * m[i] + (1 - b1) * g;
                        s[i] = b2 * s[i] + (1 - b2) * g * g;
                        rw[i] -= lr * (m[i] / (1 - Math.Pow(b1, t))) / (Math.Sqrt(s[i] / (1 - Math.Pow(b2, t))) + eps);
                        break;
                }
            }
            for (int i = 0; i < N; i++)
                Assert.True(Math.Abs(w[i] - rw[i]) < 1e-5, $"{kind} step {t} [{i}]: {w[i]} vs {rw[i]}");
        }
        Assert.Equal(grads.Length, opt.Steps);
    }

    [Theory]
    [InlineData(0f, "--lr must be a positive number (got 0)")]
    [InlineData(float.NaN, "--lr must be a positive number (got NaN)")]
    public void Invalid_rates_are_refused(float lr, string message)
    {
        var e = Assert.Throws<UserErrorException>(() => new Optimizer(new OptimizerSettings(OptimizerKind.Sgd, lr), 3));
        Assert.Equal(message, e.Message);
    }
}
