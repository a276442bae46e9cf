using System.Text.Json;

namespace DistributedNN.Tests.Cli;

/// <summary>`train --model-spec`: a graph network trained, saved, inspected and exported from the command line, and its errors.</summary>
public sealed class ModelSpecCliTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    public void Dispose() => _dir.Dispose();

    private string Spec(string name, string text)
    {
        string path = _dir.File(name);
        File.WriteAllText(path, text);
        return path;
    }

    private const string SmallCnn = """
        input: [1, 28, 28]
        layers:
          - { type: conv, filters: 4, kernel: 5, stride: 2 }
          - { type: avgpool, size: 2 }
          - { type: dense, units: 16, name: h }
          - { type: dense, units: 16, from: h }
          - { type: concat, from: [h, layer4] }
          - { type: dense, units: 10 }
        """;

    [Fact]
    public void A_YAML_spec_trains_saves_inspects_and_exports_as_JSON_and_ONNX()
    {
        string spec = Spec("cnn.yaml", SmallCnn);
        string model = _dir.File("cnn.dnn"), metrics = _dir.File("metrics.json");
        var (exit, output, err) = CliRunner.Run("train", "--model-spec", spec, "--train-limit", "1000", "--epochs", "2", "--batch", "50", "--lr", "0.01",
            "--save", model, "--metrics-out", metrics, "--out", _dir.File("run"));
        Assert.True(exit == 0, err + output);
        Assert.Contains("network 1×28×28 → conv 5×5×4/2 relu → avgpool 2 → dense 16 relu → dense 16 relu → concat(h+#4) → dense 10 softmax", output);
        Assert.Equal(2, output.Split('\n').Count(l => l.StartsWith("epoch ")));
        Assert.Contains("grad_norms [", output);
        Assert.Matches(@"grad_norms \[\S+ - \S+ \S+ - \S+\]", output); // pooling and concat have no parameters
        using (var doc = JsonDocument.Parse(File.ReadAllText(metrics)))
            Assert.True(doc.RootElement.GetProperty("test_accuracy").GetDouble() > 0.3, output); // chance is 0.1
        // steps.csv: gradient columns only for layers with parameters
        string header = File.ReadLines(Path.Combine(_dir.File("run"), "steps.csv")).First();
        Assert.Contains("grad_norm_layer1,grad_norm_layer3,grad_norm_layer4,grad_norm_layer6,", header);

        (exit, output, err) = CliRunner.Run("inspect", model);
        Assert.True(exit == 0, err);
        Assert.Contains("1 conv", output);
        Assert.Contains("4×1×5×5", output);
        Assert.Contains("5 concat", output);

        string json = _dir.File("cnn.json");
        (exit, _, err) = CliRunner.Run("export", model, "--format", "json", "-o", json);
        Assert.True(exit == 0, err);
        (exit, output, err) = CliRunner.Run("evaluate", json);
        Assert.True(exit == 0, err);
        (exit, _, err) = CliRunner.Run("export", model, "--format", "onnx", "-o", _dir.File("cnn.onnx"));
        Assert.True(exit == 0, err);
        Assert.True(new FileInfo(_dir.File("cnn.onnx")).Length > 3026 * 4);

        // --init from the saved graph model continues from its weights
        (exit, output, err) = CliRunner.Run("train", "--init", model, "--train-limit", "500", "--epochs", "1", "--batch", "50", "--out", _dir.File("run2"));
        Assert.True(exit == 0, err + output);
        Assert.Contains("conv 5×5×4/2", output);
    }

    [Fact]
    public void Spec_errors_are_one_line_and_exit_1()
    {
        string good = Spec("good.json", """{ "input": [1, 28, 28], "layers": [ { "type": "dense", "units": 10 } ] }""");
        string tooBig = Spec("big.json", """{ "input": [1, 28, 28], "layers": [ { "type": "conv", "filters": 2, "kernel": 29 }, { "type": "dense", "units": 10 } ] }""");
        string wrongInput = Spec("wrong.json", """{ "input": [1, 20, 20], "layers": [ { "type": "flatten" }, { "type": "dense", "units": 10 } ] }""");
        (string[] Args, string Message)[] cases =
        [
            (["--model-spec", tooBig], $"error: {tooBig}: layer 1 (conv): convolution: a 29×29 kernel does not fit a 28×28 input with padding 0"),
            (["--model-spec", good, "--layers", "784,10"], "error: --model-spec describes the whole network; drop --layers (the spec's \"loss\" and \"activation\" keys set those)"),
            (["--model-spec", good, "--activation", "tanh", "--loss", "sse"], "error: --model-spec describes the whole network; drop --activation, --loss (the spec's \"loss\" and \"activation\" keys set those)"),
            (["--model-spec", _dir.File("missing.json")], $"error: --model-spec {_dir.File("missing.json")}: cannot read it (Could not find file '{_dir.File("missing.json")}'.)"),
            (["--model-spec", wrongInput, "--train-limit", "100"], "error: the network takes 400 inputs but the data set 'fashion-mnist train' has 784 features per sample; make the model spec's \"input\" shape hold 784 values"),
        ];
        foreach (var (args, message) in cases)
        {
            var (exit, output, err) = CliRunner.Run(["train", .. args, "--epochs", "1", "--out", _dir.File("run")]);
            Assert.True(exit == 1, $"{string.Join(' ', args)}: exit {exit}\n{err}");
            Assert.Equal(message, err.TrimEnd());
            Assert.DoesNotContain("epoch 1/", output);
        }
    }

    [Fact]
    public void A_specs_training_section_is_the_recipe_and_the_command_line_overrides_it()
    {
        string spec = Spec("recipe.yaml", SmallCnn + """

            training:
              epochs: 2
              batch: 40
              optimizer: sgd
              lr: 0.05
              lr-schedule: cosine
              random-flip: true
              class-names: fashion-mnist
            """);
        var (exit, output, err) = CliRunner.Run("train", "--model-spec", spec, "--train-limit", "400", "--save", _dir.File("r.dnn"), "--out", _dir.File("r1"));
        Assert.True(exit == 0, err);
        Assert.Contains("train   sgd lr 0.05 (cosine, augmented: random flip), batch 40 in 4 shards, 2 epochs", output);
        Assert.Contains("epoch 2/2", output);
        (exit, var inspected, _) = CliRunner.Run("inspect", _dir.File("r.dnn"));
        Assert.Contains("classes     T-shirt/top", inspected);
        // the command line is stronger
        (exit, output, err) = CliRunner.Run("train", "--model-spec", spec, "--train-limit", "400", "--epochs", "1", "--lr", "0.02", "--out", _dir.File("r2"));
        Assert.True(exit == 0, err);
        Assert.Contains("train   sgd lr 0.02 (cosine, augmented: random flip), batch 40 in 4 shards, 1 epochs", output);
        // a key that is no option is a one-line error naming the file
        string bad = Spec("bad.json", """{ "input": 784, "layers": [ { "type": "dense", "units": 10 } ], "training": { "epoch": 3 } }""");
        (exit, _, err) = CliRunner.Run("train", "--model-spec", bad);
        Assert.Equal(1, exit);
        Assert.StartsWith($"error: --model-spec {bad} (\"training\"): unknown key 'epoch'", err.Trim());
    }
}
