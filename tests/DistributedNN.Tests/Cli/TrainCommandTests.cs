using System.Text.Json;
using DistributedNN.Serialization;

namespace DistributedNN.Tests.Cli;

public sealed class TrainCommandTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    public void Dispose() => _dir.Dispose();

    /// <summary>A tiny CSV data set: class = whether x0 + x1 > 1, learnable by a small network.</summary>
    private string WriteCsv(int rows = 200)
    {
        var rng = new Random(3);
        var lines = new List<string> { "x0,x1,x2,label" };
        for (int i = 0; i < rows; i++)
        {
            double a = rng.NextDouble(), b = rng.NextDouble(), c = rng.NextDouble();
            lines.Add(FormattableString.Invariant($"{a:F4},{b:F4},{c:F4},{(a + b > 1 ? 1 : 0)}"));
        }
        string path = _dir.File("data.csv");
        File.WriteAllLines(path, lines);
        return path;
    }

    [Theory]
    [InlineData(new[] { "--lr", "-1" }, "error: --lr must be a positive number (got -1)")]
    [InlineData(new[] { "--batch", "0" }, "error: --batch must be at least 1 (got 0)")]
    [InlineData(new[] { "--epochs", "-1" }, "error: --epochs must be zero or more (got -1; 0 saves the initialised model)")]
    [InlineData(new[] { "--layers", "784,abc,10" }, "error: --layers '784,abc,10': 'abc' is not a positive layer size (write sizes like 784,256,128,10)")]
    [InlineData(new[] { "--layers", "784" }, "error: --layers '784' needs at least an input and an output size, e.g. 784,10")]
    [InlineData(new[] { "--activation", "mish" }, "error: --activation 'mish' is not one of relu, sigmoid, tanh, identity, leaky-relu, elu, gelu, silu")]
    [InlineData(new[] { "--loss", "hinge" }, "error: --loss 'hinge' is not one of ce, sse, mse")]
    [InlineData(new[] { "--optimizer", "lbfgs" }, "error: --optimizer 'lbfgs' is not one of sgd, momentum, nesterov, adam, adamw")]
    [InlineData(new[] { "--loss", "ce", "--output", "sigmoid" }, "error: cross-entropy loss needs a softmax output layer, not sigmoid")]
    [InlineData(new[] { "--batch", "8", "--shards", "9" }, "error: --shards (9) cannot exceed --batch (8)")]
    [InlineData(new[] { "--momentum", "1.5" }, "error: --momentum must be in [0, 1) (got 1.5)")]
    [InlineData(new[] { "--train-limit", "0" }, "error: --train-limit must be at least 1 (got 0)")]
    public void Bad_options_get_a_one_line_error_and_a_non_zero_exit(string[] args, string message)
    {
        var (exit, _, err) = CliRunner.Run(["train", .. args]);
        Assert.Equal(1, exit);
        Assert.Equal(message, err.TrimEnd());
    }

    [Fact]
    public void An_unknown_option_or_bad_number_is_a_usage_error()
    {
        var (exit, _, err) = CliRunner.Run("train", "--bogus");
        Assert.Equal(2, exit);
        Assert.StartsWith("error: ", err);
        (exit, _, err) = CliRunner.Run("train", "--batch", "many");
        Assert.Equal(2, exit);
        Assert.Contains("many", err);
    }

    [Fact]
    public void Layer_sizes_that_do_not_match_the_data_are_refused()
    {
        string csv = WriteCsv();
        var (exit, _, err) = CliRunner.Run("train", "--data", csv, "--layers", "5,8,2", "--epochs", "1");
        Assert.Equal(1, exit);
        Assert.Equal("error: the network takes 5 inputs but the data set 'data train' has 3 features per sample; make the first --layers size 3", err.TrimEnd());
        (exit, _, err) = CliRunner.Run("train", "--data", csv, "--layers", "3,8,1", "--loss", "mse", "--output", "sigmoid", "--epochs", "1");
        Assert.Equal(0, exit);
    }

    [Fact]
    public void An_unwritable_output_is_refused_before_training()
    {
        string csv = WriteCsv();
        string blocker = _dir.File("file");
        File.WriteAllText(blocker, "x");
        var (exit, output, err) = CliRunner.Run("train", "--data", csv, "--layers", "3,4,2", "--save", Path.Combine(blocker, "model.dnn"));
        Assert.Equal(1, exit);
        Assert.StartsWith($"error: --save {Path.Combine(blocker, "model.dnn")}: cannot write there", err);
        Assert.DoesNotContain("epoch", output);
        (exit, _, err) = CliRunner.Run("train", "--data", csv, "--layers", "3,4,2", "--metrics-out", _dir.Path);
        Assert.Equal(1, exit);
        Assert.Equal($"error: --metrics-out {_dir.Path}: is a directory; give a file name", err.TrimEnd());
    }

    [Fact]
    public void A_missing_data_path_is_a_one_line_error()
    {
        var (exit, _, err) = CliRunner.Run("train", "--data", _dir.File("nowhere"), "--epochs", "1");
        Assert.Equal(1, exit);
        Assert.StartsWith("error: ", err);
        Assert.Contains("nowhere", err);
        Assert.Single(err.TrimEnd().Split('\n'));
    }

    [Fact]
    public void Train_saves_a_model_that_export_and_init_read_back()
    {
        string csv = WriteCsv();
        string model = _dir.File("model.dnn"), metrics = _dir.File("metrics.json"), json = _dir.File("model.json");
        var (exit, output, err) = CliRunner.Run("train", "--data", csv, "--layers", "3,16,2", "--epochs", "20", "--batch", "16",
            "--optimizer", "sgd", "--lr", "0.5", "--save", model, "--metrics-out", metrics);
        Assert.True(exit == 0, err);
        Assert.Equal(20, output.Split('\n').Count(l => l.StartsWith("epoch ")));

        double trainedAccuracy;
        using (var doc = JsonDocument.Parse(File.ReadAllText(metrics)))
        {
            var root = doc.RootElement;
            foreach (var key in new[] { "test_accuracy", "test_loss", "train_loss", "epochs", "steps", "samples_per_second", "parameters" })
                Assert.True(root.TryGetProperty(key, out _), $"metrics lack {key}");
            Assert.Equal(3 * 16 + 16 + 16 * 2 + 2, root.GetProperty("parameters").GetInt32());
            Assert.Equal(20, root.GetProperty("epochs").GetInt32());
            Assert.Equal(20 * 10, root.GetProperty("steps").GetInt32()); // 160 training rows / 16
            Assert.True(root.GetProperty("test_accuracy").GetDouble() > 0.85, "a linearly separable problem should be learned");
            trainedAccuracy = root.GetProperty("test_accuracy").GetDouble();
        }

        (exit, _, err) = CliRunner.Run("export", model, "--format", "json", "-o", json);
        Assert.True(exit == 0, err);
        Assert.True(File.Exists(json));

        // starting from the saved weights (binary and JSON alike), one SGD epoch with lr≈0 leaves every weight as it was:
        // each step moves a weight by 1e-30·g, far below half an ulp of it
        var saved = ModelFile.Load(model);
        foreach (var init in new[] { model, json })
        {
            string again = _dir.File("again.dnn");
            (exit, output, err) = CliRunner.Run("train", "--data", csv, "--epochs", "1", "--batch", "16", "--optimizer", "sgd", "--lr", "1e-30", "--init", init,
                "--save", again, "--metrics-out", metrics);
            Assert.True(exit == 0, err);
            Assert.Contains("init from", output);
            var after = ModelFile.Load(again);
            Assert.Equal(saved.Spec.ParameterCount, after.Spec.ParameterCount);
            Assert.Equal(saved.Parameters, after.Parameters); // bit for bit
            using var doc = JsonDocument.Parse(File.ReadAllText(metrics));
            Assert.Equal(trainedAccuracy, doc.RootElement.GetProperty("test_accuracy").GetDouble()); // the same weights on the same test set
        }

        (exit, _, err) = CliRunner.Run("train", "--data", csv, "--layers", "3,8,2", "--epochs", "1", "--init", model);
        Assert.Equal(1, exit);
        Assert.Equal($"error: --init {model}: layer 1 is 16×3 in the file but 8×3 in the network", err.TrimEnd());
    }

    [Fact]
    public void Export_refuses_unknown_formats_and_corrupt_models()
    {
        string path = _dir.File("broken.dnn");
        File.WriteAllBytes(path, "DNNMODEL\u0001\0\0\0garbage"u8.ToArray());
        var (exit, _, err) = CliRunner.Run("export", path);
        Assert.Equal(1, exit);
        Assert.Equal($"error: {path}: the model file is truncated or corrupt (checksum mismatch)", err.TrimEnd());
        (exit, _, err) = CliRunner.Run("export", path, "--format", "xml");
        Assert.Equal(1, exit);
        Assert.Equal("error: --format 'xml' is not supported (supported: json, onnx)", err.TrimEnd());
    }

    [Fact]
    public void The_same_seed_gives_the_same_weights_and_shards_change_only_rounding()
    {
        string csv = WriteCsv();
        float[] Train(string name, int seed = 5, int? shards = null)
        {
            string path = _dir.File(name + ".dnn");
            string[] cut = shards is null ? [] : ["--shards", shards.Value.ToString()];
            var (exit, _, err) = CliRunner.Run(["train", "--data", csv, "--layers", "3,16,2", "--epochs", "3", "--batch", "20", "--seed", seed.ToString(), "--save", path, .. cut]);
            Assert.True(exit == 0, err);
            return ModelFile.Load(path).Parameters;
        }
        static float Farthest(float[] x, float[] y) => x.Zip(y, (p, q) => Math.Abs(p - q)).Max();

        var reference = Train("a"); // --shards 4, the default
        Assert.Equal(reference, Train("b"));
        // the shards of a batch are summed in order, each from zero: another cut adds the same terms in another grouping,
        // which moves the float sums by rounding (here ~1e-8) — not by what another seed moves them (~1)
        var moved = new[] { 1, 2, 5, 20 }.Select(shards => (Shards: shards, By: Farthest(reference, Train($"shards-{shards}", shards: shards)))).ToList();
        Assert.All(moved, m => Assert.True(m.By < 1e-5f, $"--shards {m.Shards} moved a weight by {m.By}"));
        Assert.Contains(moved, m => m.By > 0); // the cut does reach the arithmetic
        Assert.True(Farthest(reference, Train("seed-6", seed: 6)) > 0.1f, "another seed should give other weights");
    }

    [Fact]
    public void Evaluate_reports_the_saved_models_test_accuracy()
    {
        string csv = WriteCsv();
        string model = _dir.File("model.dnn"), metrics = _dir.File("metrics.json");
        var (exit, _, err) = CliRunner.Run("train", "--data", csv, "--layers", "3,16,2", "--epochs", "10", "--batch", "16",
            "--test-fraction", "0.3", "--save", model, "--metrics-out", metrics);
        Assert.True(exit == 0, err);
        double trained;
        using (var doc = JsonDocument.Parse(File.ReadAllText(metrics))) trained = doc.RootElement.GetProperty("test_accuracy").GetDouble();

        var (evalExit, output, evalErr) = CliRunner.Run("evaluate", model, "--data", csv, "--test-fraction", "0.3");
        Assert.True(evalExit == 0, evalErr);
        Assert.Contains($"test_acc {trained.ToString("P2", System.Globalization.CultureInfo.InvariantCulture)}", output);
        Assert.Contains("(60 samples)", output);

        (evalExit, _, evalErr) = CliRunner.Run("evaluate", _dir.File("missing.dnn"), "--data", csv);
        Assert.Equal(1, evalExit);
        Assert.Equal($"error: {_dir.File("missing.dnn")}: file not found", evalErr.TrimEnd());
    }
}
