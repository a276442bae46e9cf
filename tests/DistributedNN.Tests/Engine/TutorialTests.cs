using DistributedNN.Model;
using DistributedNN.Numerics;
using DistributedNN.Training;

namespace DistributedNN.Tests.Engine;

/// <summary>The tutorial's examples, computed by hand and by the engine.</summary>
public sealed class TutorialTests
{
    private static double Sigmoid(double z) => 1 / (1 + Math.Exp(-z));

    [Fact]
    public void Two_neuron_chain_gradients_match_the_hand_derived_chain_rule()
    {
        // x → w1 → σ → w2 → σ, E = ½(a2 − t)², biases zero (the bias is just a weight w0 on a constant 1).
        var spec = new NetworkSpec([new LayerSpec(1, 1, Activation.Sigmoid), new LayerSpec(1, 1, Activation.Sigmoid)], LossKind.SumSquaredError);
        const float x = 0.8f, w1 = 0.6f, w2 = -1.3f;
        const int t = 1; // a single output's label is its target
        float[] p = [w1, 0f, w2, 0f]; // layout: W1, b1, W2, b2

        double a1 = Sigmoid(w1 * x), a2 = Sigmoid(w2 * a1);
        // dE/dw2 = (a2 − t)·a2(1 − a2)·a1;  dE/dw1 = (a2 − t)·a2(1 − a2)·w2·a1(1 − a1)·x
        double delta2 = (a2 - t) * a2 * (1 - a2);
        double dw2 = delta2 * a1, db2 = delta2;
        double delta1 = delta2 * w2 * a1 * (1 - a1);
        double dw1 = delta1 * x, db1 = delta1;

        var g = new float[4];
        var stats = new Backprop(spec, 1).Gradient(p, [x], [t], 1, g);

        Assert.Equal(0.5 * (a2 - t) * (a2 - t), stats.LossSum, 6);
        Assert.Equal(dw1, g[0], 6);
        Assert.Equal(db1, g[1], 6);
        Assert.Equal(dw2, g[2], 6);
        Assert.Equal(db2, g[3], 6);

        // One step of gradient descent moves each weight by exactly −η·dE/dw.
        const float eta = 0.5f;
        var before = (float[])p.Clone();
        new Optimizer(new OptimizerSettings(OptimizerKind.Sgd, eta), 4).Step(p, g, 1f);
        for (int i = 0; i < 4; i++) Assert.Equal(before[i] - eta * g[i], p[i]);
        Assert.NotEqual(before[0], p[0]);
        Assert.NotEqual(before[2], p[2]);
    }

    [Fact]
    public void Xor_is_learned_by_a_small_sigmoid_network_with_sse()
    {
        var spec = NetworkSpec.FromSizes([2, 4, 1], Activation.Sigmoid, Activation.Sigmoid, LossKind.SumSquaredError);
        var p = new float[spec.ParameterCount];
        Initializer.Initialize(spec, p, InitScheme.Xavier, seed: 7);
        float[] x = [0, 0, 0, 1, 1, 0, 1, 1];
        int[] y = [0, 1, 1, 0];
        var g = new float[p.Length];
        var bp = new Backprop(spec, 4);
        var sgd = new Optimizer(new OptimizerSettings(OptimizerKind.Momentum, 2f, Momentum: 0.9f), p.Length);
        double loss = double.MaxValue;
        for (int step = 0; step < 5000 && loss >= 0.01; step++)
        {
            loss = bp.Gradient(p, x, y, 4, g).LossSum / 4;
            sgd.Step(p, g, 0.25f);
        }
        Assert.True(loss < 0.01, $"XOR loss stayed at {loss}");
        var output = bp.Forward(p, x, 4).ToArray();
        for (int i = 0; i < 4; i++) Assert.Equal(y[i], output[i] >= 0.5f ? 1 : 0);
    }

    [Theory]
    [InlineData(Activation.Sigmoid)]
    [InlineData(Activation.ReLU)]
    public void Vanishing_gradient_shows_in_deep_sigmoid_stacks_and_not_with_relu(Activation activation)
    {
        // 10 layers of 64 units at initialisation (Xavier for sigmoid, He for ReLU), one batch of inputs.
        var sizes = Enumerable.Repeat(64, 11).ToArray();
        sizes[^1] = 10;
        var spec = NetworkSpec.FromSizes(sizes, activation, Activation.Softmax, LossKind.CrossEntropy);
        var p = new float[spec.ParameterCount];
        Initializer.Initialize(spec, p, InitScheme.Auto, seed: 11);
        var rng = new Rng(5);
        const int rows = 128;
        var x = new float[rows * 64];
        for (int i = 0; i < x.Length; i++) x[i] = (float)rng.NextGaussian();
        var y = Enumerable.Range(0, rows).Select(_ => rng.NextInt(10)).ToArray();
        var g = new float[p.Length];
        new Backprop(spec, rows).Gradient(p, x, y, rows, g);

        var norms = GradientNorms.Compute(spec, g, 1f / rows);
        double ratio = norms[^1] / norms[0];
        if (activation == Activation.Sigmoid)
            Assert.True(ratio >= 100, $"sigmoid: last/first layer gradient norm ratio {ratio:G3} (norms {string.Join(", ", norms.Select(n => n.ToString("G3")))})");
        else
            Assert.True(ratio is <= 10 and >= 0.1, $"relu: last/first layer gradient norm ratio {ratio:G3} (norms {string.Join(", ", norms.Select(n => n.ToString("G3")))})");
    }
}
