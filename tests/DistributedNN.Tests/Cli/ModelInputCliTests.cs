using System.Globalization;
using DistributedNN.Model;
using DistributedNN.Serialization;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace DistributedNN.Tests.Cli;

/// <summary>
/// A model carries what it needs to be used: trained on a CSV, its standardisation goes with it into the model file,
/// `predict` and `evaluate` take raw rows, and the ONNX export gives ONNX Runtime the same answers on them; --epochs 0
/// saves the initialised model.
/// </summary>
public sealed class ModelInputCliTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    // Three classes told apart by features far from 0 and of very different scales: raw, they would swamp the network.
    private static IEnumerable<double[]> Rows(int count, int seed)
    {
        var rng = new Random(seed);
        for (int i = 0; i < count; i++)
        {
            int c = i % 3;
            yield return [1000 + 60 * c + 15 * (rng.NextDouble() - 0.5), 0.002 * c + 0.001 * rng.NextDouble(), -40 + 5 * rng.NextDouble(), 7, c];
        }
    }

    private string Csv(string name, IEnumerable<double[]> rows, bool labels = true, bool header = true)
    {
        var inv = CultureInfo.InvariantCulture;
        var lines = new List<string>();
        if (header) lines.Add(labels ? "a,b,c,d,label" : "a,b,c,d");
        lines.AddRange(rows.Select(r => string.Join(",", (labels ? r : r[..^1]).Select(v => v.ToString("R", inv)))));
        string path = _dir.File(name);
        File.WriteAllLines(path, lines);
        return path;
    }

    private (string Model, string Output) Train(params string[] more)
    {
        string data = $"{Csv("train.csv", Rows(300, 1))},{Csv("test.csv", Rows(90, 2))}";
        string model = _dir.File("m.dnn");
        var (exit, output, err) = CliRunner.Run(["train", "--data", data, "--layers", "4,12,3", "--batch", "30", "--epochs", "8", "--lr", "0.01",
            "--save", model, "--out", _dir.File("run"), .. more]);
        Assert.True(exit == 0, err);
        return (model, output);
    }

    [Fact]
    public void Raw_CSV_rows_get_the_same_classes_and_probabilities_from_dnn_predict_and_ONNX_Runtime()
    {
        var (model, _) = Train("--class-names", "low,mid,high");
        string rows = Csv("rows.csv", Rows(12, 3), labels: false, header: false);
        string onnx = _dir.File("m.onnx");
        var (exit, _, err) = CliRunner.Run("export", model, "--format", "onnx", "-o", onnx);
        Assert.True(exit == 0, err);
        (exit, var predicted, err) = CliRunner.Run("predict", model, rows, "--format", "csv");
        Assert.True(exit == 0, err);

        var lines = predicted.Trim().Split('\n').Select(l => l.Trim().Split(',')).ToArray();
        Assert.Equal(["sample", "predicted", "true", "low", "mid", "high"], lines[0]);
        Assert.Equal(12, lines.Length - 1);
        var dnn = lines[1..].Select(l => l[3..].Select(v => float.Parse(v, CultureInfo.InvariantCulture)).ToArray()).ToArray();

        var raw = Rows(12, 3).SelectMany(r => r[..4].Select(v => (float)v)).ToArray();
        using var session = new InferenceSession(onnx);
        using var results = session.Run([NamedOnnxValue.CreateFromTensor("input", new DenseTensor<float>(raw, [12, 4]))]);
        var ort = results.Single().AsTensor<float>().ToArray();
        string[] names = ["low", "mid", "high"];
        for (int i = 0; i < 12; i++)
        {
            var o = ort.AsSpan(i * 3, 3).ToArray();
            Assert.True(dnn[i].Zip(o, (a, b) => Math.Abs(a - b)).Max() <= 1e-5f, $"row {i}: dnn {string.Join(" ", dnn[i])}, ONNX {string.Join(" ", o)}");
            Assert.Equal(names[Array.IndexOf(o, o.Max())], lines[i + 1][1]);
        }
        // the network learned from standardised inputs: on raw rows it knows the classes (every third row is a class)
        Assert.True(lines[1..].Select((l, i) => l[1] == names[i % 3]).Count(x => x) >= 10, predicted);
    }

    [Fact]
    public void Evaluate_and_predict_on_labelled_raw_rows_agree_with_the_training_run()
    {
        var (model, trainOutput) = Train();
        string lastEpoch = trainOutput.Split('\n').Last(l => l.StartsWith("epoch 8/8"));
        string trainAcc = lastEpoch[lastEpoch.IndexOf("test_acc", StringComparison.Ordinal)..].Split("  ")[0];
        string test = _dir.File("test.csv");
        // evaluate a pair whose training half differs: the model's own statistics are used, not the new data's
        string other = Csv("other.csv", Rows(30, 7).Select(r => r.Select(v => v * 3).ToArray()));
        var (exit, evaluated, err) = CliRunner.Run("evaluate", model, "--data", $"{other},{test}");
        Assert.True(exit == 0, err);
        Assert.Contains(trainAcc, evaluated);
        (exit, var predicted, err) = CliRunner.Run("predict", model, test, "--top", "1");
        Assert.True(exit == 0, err);
        // every row of the file, labelled: the same accuracy as the training's last test evaluation
        string summary = predicted.Trim().Split('\n').Last();
        Assert.StartsWith("test[89]", predicted.Trim().Split('\n')[^2]);
        double acc = double.Parse(trainAcc.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
        Assert.Contains($"{Math.Round(acc / 100 * 90)} of 90 right", summary);
    }

    [Fact]
    public void Epochs_0_saves_the_initialised_model_that_a_run_can_start_from()
    {
        string data = $"{Csv("train.csv", Rows(90, 1))},{Csv("test.csv", Rows(30, 2))}";
        string m0 = _dir.File("m0.dnn");
        var (exit, output, err) = CliRunner.Run("train", "--data", data, "--layers", "4,6,3", "--epochs", "0", "--seed", "5", "--save", m0, "--out", _dir.File("r0"));
        Assert.True(exit == 0, err);
        Assert.Contains("epoch 0 (initialised, not trained)", output);
        var saved = ModelFile.Load(m0);
        var fresh = new float[saved.Spec.ParameterCount];
        Initializer.Initialize(saved.Spec, fresh, InitScheme.Auto, 5);
        Assert.Equal(fresh, saved.Parameters);
        Assert.True(saved.Input is { Standardises: true });
        Assert.True(File.Exists(Path.Combine(_dir.File("r0"), "model.dnn")));

        // starting from it is starting from the seed's weights
        (exit, var fromSeed, err) = CliRunner.Run("train", "--data", data, "--layers", "4,6,3", "--epochs", "1", "--seed", "5", "--out", _dir.File("r1"));
        Assert.True(exit == 0, err);
        (exit, var fromFile, err) = CliRunner.Run("train", "--data", data, "--epochs", "1", "--seed", "5", "--init", m0, "--out", _dir.File("r2"));
        Assert.True(exit == 0, err);
        string Hash(string o) => o.Split('\n').Single(l => l.StartsWith("weights sha256"));
        Assert.Equal(Hash(fromSeed), Hash(fromFile));
    }

    [Fact]
    public void An_image_model_keeps_its_pixel_scaling_and_its_class_names()
    {
        string model = _dir.File("img.dnn");
        var (exit, _, err) = CliRunner.Run("train", "--layers", "784,10", "--epochs", "0", "--train-limit", "100", "--class-names", "fashion-mnist", "--save", model, "--out", _dir.File("r"));
        Assert.True(exit == 0, err);
        (exit, var inspected, err) = CliRunner.Run("inspect", model);
        Assert.True(exit == 0, err);
        Assert.Contains("input       divided by 255 (image pixels 0–255 to [0, 1])", inspected);
        Assert.Contains("classes     T-shirt/top, Trouser,", inspected);
        (exit, var predicted, err) = CliRunner.Run("predict", model, "/usr/share/datasets/fashion-mnist", "--limit", "2");
        Assert.True(exit == 0, err);
        Assert.Contains("(true: Ankle boot", predicted); // the test set's first image, named by the model's own classes
    }

    [Theory]
    [InlineData("predict-columns")]
    [InlineData("class-names")]
    [InlineData("epochs-resume")]
    [InlineData("old-model")]
    [InlineData("compare-untrained")]
    public void A_bad_input_is_a_one_line_error(string what)
    {
        string data = $"{Csv("train.csv", Rows(30, 1))},{Csv("test.csv", Rows(9, 2))}";
        string[] args;
        string expected;
        switch (what)
        {
            case "predict-columns":
                var (model, _) = Train();
                File.WriteAllLines(_dir.File("short.csv"), ["1,2,3", "4,5,6"]);
                args = ["predict", model, _dir.File("short.csv")];
                expected = "short.csv: rows of 3 columns, but the model takes 4 inputs (give 4 feature columns, or 5 with a label)";
                break;
            case "class-names":
                args = ["train", "--data", data, "--layers", "4,3", "--class-names", "a,b"];
                expected = "error: --class-names gives 2 names but the model has 3 classes";
                break;
            case "epochs-resume":
                args = ["train", "--data", data, "--layers", "4,3", "--epochs", "0", "--resume", _dir.Path];
                expected = "error: --epochs 0 saves an initialised model; a resumed run takes its epochs from the checkpoint";
                break;
            case "compare-untrained":
                args = ["train", "--data", data, "--layers", "4,5,3", "--epochs", "0", "--compare-activations", "relu,tanh"];
                expected = "error: --compare-activations compares training runs: --epochs must be at least 1";
                break;
            default:
                var spec = NetworkSpec.FromSizes([4, 3], Activation.ReLU, Activation.Softmax, LossKind.CrossEntropy);
                ModelFile.Save(_dir.File("old.dnn"), new TrainedModel(spec, new float[spec.ParameterCount]));
                args = ["predict", _dir.File("old.dnn"), _dir.File("test.csv")];
                expected = "the model keeps no input transform (written before model format version 3)";
                break;
        }
        var (exit, _, err) = CliRunner.Run(args);
        Assert.Equal(1, exit);
        Assert.Contains(expected, err);
        Assert.Single(err.Trim().Split('\n'));
    }
}
