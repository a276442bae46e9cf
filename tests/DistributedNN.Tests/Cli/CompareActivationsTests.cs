using System.Globalization;
using DistributedNN.Model;
using DistributedNN.Serialization;
using DistributedNN.Tests.Distributed;
using StbImageSharp;

namespace DistributedNN.Tests.Cli;

/// <summary>`dnn train --compare-activations`: a complete run folder per activation, the side-by-side plot, the vanishing gradient it is for, and its refusals.</summary>
public sealed class CompareActivationsTests : IDisposable
{
    /// <summary>Deep and narrow: six hidden layers of 8 on the 4-feature test data, a few milliseconds per epoch.</summary>
    private const string DeepNarrow = "4,8,8,8,8,8,8,2";

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Each_activation_gets_a_complete_run_folder_and_a_panel_in_the_comparison_plot()
    {
        string run = _dir.File("compare");
        var (exit, output, err) = CliRunner.Run("train", "--data", TestData.Csv, "--layers", DeepNarrow, "--compare-activations", "sigmoid,relu,tanh", "--epochs", "2", "--out", run);
        Assert.True(exit == 0, err);
        Assert.DoesNotContain("warning", err);

        foreach (var (name, activation) in new[] { ("sigmoid", Activation.Sigmoid), ("relu", Activation.ReLU), ("tanh", Activation.Tanh) })
        {
            string folder = Path.Combine(run, name);
            Assert.Contains($"run     {folder} (model.dnn, metrics.json, epochs.csv, steps.csv, train.log, loss.png, accuracy.png, gradient-norms.png)", output);
            foreach (var file in new[] { "model.dnn", "metrics.json", "epochs.csv", "steps.csv", "train.log", "loss.png", "accuracy.png", "gradient-norms.png" })
                Assert.True(File.Exists(Path.Combine(folder, file)), $"{name}/{file} is missing");
            // trained with this activation in every hidden layer, the output layer unchanged
            var model = ModelLoader.Load(Path.Combine(folder, "model.dnn"));
            Assert.All(model.Spec.Layers.SkipLast(1), l => Assert.Equal(activation, l.Activation));
            Assert.Equal(Activation.Softmax, model.Spec.Layers[^1].Activation);
            Assert.Equal(3, File.ReadAllLines(Path.Combine(folder, "epochs.csv")).Length);
            Assert.Matches($@"compare {name}: first-layer gradient norm is [0-9.e+-]+× the last layer's \([0-9.]+ decades (below|above), final epoch\); test accuracy [0-9.]+%", output);
        }
        // the same network and data apart from the activation: the same seed, so the same data order
        Assert.Equal(3, output.Split('\n').Count(l => l.StartsWith("train   adam lr 0.001, batch 64 in 4 shards, 2 epochs, seed 1", StringComparison.Ordinal)));

        string plot = Path.Combine(run, "gradient-norms-compare.png");
        Assert.Contains($"plot    {plot}", output);
        using var stream = File.OpenRead(plot);
        var image = ImageResult.FromStream(stream, ColorComponents.RedGreenBlue); // throws unless it is a readable PNG
        Assert.Equal((3 * 800, 500), (image.Width, image.Height));
        Assert.True(image.Data.Distinct().Count() > 2, "the plot is blank");
    }

    [Fact]
    public void A_deep_sigmoid_stack_s_first_layer_gradient_vanishes_where_relu_s_does_not()
    {
        string run = _dir.File("compare");
        var (exit, output, err) = CliRunner.Run("train", "--data", TestData.Csv, "--layers", DeepNarrow, "--compare-activations", "sigmoid,relu", "--epochs", "3", "--out", run);
        Assert.True(exit == 0, err);

        double sigmoid = FirstToLastLayerNorm(Path.Combine(run, "sigmoid", "epochs.csv"));
        double relu = FirstToLastLayerNorm(Path.Combine(run, "relu", "epochs.csv"));
        // Measured: sigmoid 1.3e-4 (σ' ≤ ¼ through six hidden layers), ReLU 0.58 — about 4,500× apart.
        // Asserted with a wide margin (60×) so that an initialisation or optimizer change does not break it
        // while the vanishing gradient is still there.
        Assert.True(sigmoid < 1e-2, $"sigmoid first/last layer gradient norm {sigmoid}");
        Assert.True(relu > 0.1, $"relu first/last layer gradient norm {relu}");
        Assert.True(sigmoid * 100 < relu, $"sigmoid {sigmoid} vs relu {relu}");
        Assert.Contains($"compare sigmoid: first-layer gradient norm is {sigmoid.ToString("0.0e+00", CultureInfo.InvariantCulture)}× the last layer's", output);
    }

    /// <summary>The final epoch's grad_norm_layer1 / grad_norm_layerN from a run's epochs.csv.</summary>
    private static double FirstToLastLayerNorm(string epochsCsv)
    {
        var lines = File.ReadAllLines(epochsCsv);
        var header = lines[0].Split(',');
        var last = lines[^1].Split(',');
        int first = Array.IndexOf(header, "grad_norm_layer1");
        int lastLayer = Array.FindLastIndex(header, h => h.StartsWith("grad_norm_layer", StringComparison.Ordinal));
        Assert.True(first > 0 && lastLayer > first, lines[0]);
        return double.Parse(last[first], CultureInfo.InvariantCulture) / double.Parse(last[lastLayer], CultureInfo.InvariantCulture);
    }

    public static TheoryData<string[], string> BadInputs() => new()
    {
        { ["--compare-activations", "sigmoid,relu", "--activation", "tanh"], "error: --compare-activations gives the hidden activations: drop --activation tanh" },
        { ["--compare-activations", "relu"], "error: --compare-activations 'relu' needs at least two activations to compare, e.g. sigmoid,relu" },
        { ["--compare-activations", "sigmoid,mish"], "error: --compare-activations 'sigmoid,mish': 'mish' is not one of relu, sigmoid, tanh, identity, leaky-relu, elu, gelu, silu" },
        { ["--compare-activations", "relu,softmax"], "error: --compare-activations 'relu,softmax': 'softmax' is not one of relu, sigmoid, tanh, identity, leaky-relu, elu, gelu, silu" },
        { ["--compare-activations", "sigmoid,"], "error: --compare-activations 'sigmoid,': '' is not one of relu, sigmoid, tanh, identity, leaky-relu, elu, gelu, silu" },
        { ["--compare-activations", "relu,sigmoid,relu"], "error: --compare-activations 'relu,sigmoid,relu': relu is given twice" },
        { ["--compare-activations", "sigmoid,logistic"], "error: --compare-activations 'sigmoid,logistic': sigmoid is given twice" },
        { ["--compare-activations", "sigmoid,relu", "--workers", "2"], "error: --compare-activations trains each activation in this process: drop --workers, --spawn-workers, --min-workers and --tls-cert" },
        { ["--compare-activations", "sigmoid,relu", "--spawn-workers", "1"], "error: --compare-activations trains each activation in this process: drop --workers, --spawn-workers, --min-workers and --tls-cert" },
        { ["--compare-activations", "sigmoid,relu", "--min-workers", "1"], "error: --compare-activations trains each activation in this process: drop --workers, --spawn-workers, --min-workers and --tls-cert" },
        { ["--compare-activations", "sigmoid,relu", "--resume", "checkpoints"], "error: --compare-activations cannot --resume: --resume continues one checkpointed run, the comparison starts one new run per activation" },
        { ["--compare-activations", "sigmoid,relu", "--save", "model.dnn"], "error: --compare-activations with --save: each activation has its own run folder with its own model.dnn (<out>/<activation>/model.dnn); drop --save" },
        { ["--compare-activations", "sigmoid,relu", "--metrics-out", "metrics.json"], "error: --compare-activations with --metrics-out: each activation has its own run folder with its own metrics.json (<out>/<activation>/metrics.json); drop --metrics-out" },
        { ["--compare-activations", "sigmoid,relu", "--checkpoint-dir", "checkpoints"], "error: --compare-activations with --checkpoint-dir: every activation's run would write its checkpoints into the same folder; drop --checkpoint-dir" },
    };

    [Theory]
    [MemberData(nameof(BadInputs))]
    public void Bad_input_is_one_line_without_a_stack_trace_and_nothing_is_trained(string[] args, string message)
    {
        string run = _dir.File("compare");
        var (exit, output, err) = CliRunner.Run(["train", "--data", TestData.Csv, "--layers", "4,8,2", "--epochs", "1", "--out", run, .. args]);
        Assert.Equal(1, exit);
        Assert.Equal(message, err.TrimEnd());
        Assert.DoesNotContain("   at ", err);
        Assert.Equal("", output);
        Assert.False(Directory.Exists(run), "a refused comparison made its folder");
    }

    [Fact]
    public void A_run_that_diverges_is_named_in_the_one_line_error()
    {
        var (exit, _, err) = CliRunner.Run("train", "--data", TestData.Csv, "--layers", "4,8,8,2", "--compare-activations", "relu,identity", "--optimizer", "sgd", "--lr", "1e30", "--epochs", "2", "--out", _dir.File("compare"));
        Assert.Equal(1, exit);
        Assert.StartsWith("error: --compare-activations, the relu run: training diverged at epoch 1", err);
        Assert.Single(err.TrimEnd().Split('\n'));
    }

    [Fact]
    public void The_help_explains_the_option_with_an_example()
    {
        var (exit, output, _) = CliRunner.Run("train", "--help");
        Assert.Equal(0, exit);
        Assert.Contains("--compare-activations", output);
        Assert.Contains("--compare-activations sigmoid,relu", output);
        Assert.Contains("gradient-norms-compare.png", output);
    }
}
