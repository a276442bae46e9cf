using DistributedNN.Model;
using DistributedNN.Numerics;
using DistributedNN.Serialization;
using DistributedNN.Tests.Cli;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace DistributedNN.Tests.Serialization;

/// <summary>The ONNX export, run by ONNX Runtime, gives our engine's outputs (max |Δ| ≤ 1e-5).</summary>
public sealed class OnnxExportTests : IDisposable
{
    private readonly DistributedNN.Tests.TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static float[] RunOnnx(byte[] onnx, float[] input, int rows, int inputs, int outputs)
    {
        using var session = new InferenceSession(onnx);
        Assert.Equal("input", session.InputMetadata.Keys.Single());
        Assert.Equal("output", session.OutputMetadata.Keys.Single());
        var tensor = new DenseTensor<float>(input, [rows, inputs]);
        using var results = session.Run([NamedOnnxValue.CreateFromTensor("input", tensor)]);
        var output = results.Single().AsTensor<float>();
        Assert.Equal(new[] { rows, outputs }, output.Dimensions.ToArray());
        return output.ToArray();
    }

    private static float[] RunEngine(TrainedModel model, float[] input, int rows)
    {
        var backprop = new Backprop(model.Spec, rows);
        return backprop.Forward(model.Parameters, input, rows).ToArray();
    }

    public static TheoryData<string, string, string> Networks() => new()
    {
        { "784,256,128,10", "relu", "softmax" },
        { "5,7,3", "sigmoid", "sigmoid" },
        { "4,9,9,2", "tanh", "identity" },
        { "3,1", "identity", "sigmoid" },
        { "6,9,4", "gelu", "identity" },
        { "6,9,4", "silu", "softmax" },
        { "5,7,3", "leaky-relu", "elu" },
        { "5,8,2", "elu", "gelu" },
    };

    [Theory]
    [MemberData(nameof(Networks))]
    public void ONNX_Runtime_gives_the_engines_outputs(string sizes, string hidden, string output)
    {
        int[] layers = sizes.Split(',').Select(int.Parse).ToArray();
        Assert.True(Activations.TryParse(hidden, out var h));
        Assert.True(Activations.TryParse(output, out var o));
        var spec = NetworkSpec.FromSizes(layers, h, o, o == Activation.Softmax ? LossKind.CrossEntropy : LossKind.SumSquaredError);
        var parameters = new float[spec.ParameterCount];
        Initializer.Initialize(spec, parameters, InitScheme.Xavier, 3);
        var model = new TrainedModel(spec, parameters, "onnx test");
        const int rows = 37;
        var rng = new Rng(5);
        var input = new float[rows * spec.InputSize];
        for (int i = 0; i < input.Length; i++) input[i] = (float)(rng.NextDouble() * 4 - 2);

        var expected = RunEngine(model, input, rows);
        var actual = RunOnnx(OnnxExport.ToBytes(model), input, rows, spec.InputSize, spec.OutputSize);
        Assert.Equal(expected.Length, actual.Length);
        float worst = expected.Zip(actual, (e, a) => Math.Abs(e - a)).Max();
        Assert.True(worst <= 1e-5f, $"max |Δ| = {worst}");
    }

    public static TheoryData<string> Graphs() => new()
    {
        // the CNN
        """
        { "input": [1, 28, 28], "layers": [ { "type": "conv", "filters": 32, "kernel": 5 }, { "type": "maxpool", "size": 2 },
             { "type": "conv", "filters": 64, "kernel": 5 }, { "type": "maxpool", "size": 2 }, { "type": "flatten" },
             { "type": "dense", "units": 128 }, { "type": "dense", "units": 10 } ] }
        """,
        // stride, padding, average pooling with overlapping windows, dropout, a dense layer straight after a pooling
        """
        { "input": [2, 7, 6], "layers": [ { "type": "conv", "filters": 3, "kernel": 3, "padding": 1, "activation": "tanh" },
             { "type": "conv", "filters": 4, "kernel": 2, "stride": 2, "padding": 1, "activation": "sigmoid" },
             { "type": "avgpool", "size": 2, "stride": 1 }, { "type": "dropout", "rate": 0.5 }, { "type": "dense", "units": 4 } ] }
        """,
        // a residual block, a concat of a convolution with the input, and a flat add
        """
        { "input": [3, 5, 5], "layers": [ { "type": "conv", "filters": 3, "kernel": 3, "padding": 1, "name": "c1" },
             { "type": "conv", "filters": 3, "kernel": 3, "padding": 1, "activation": "identity", "name": "c2" },
             { "type": "add", "from": ["input", "c2"], "activation": "relu", "name": "res" },
             { "type": "concat", "from": ["res", "c1"], "name": "cat" }, { "type": "maxpool", "size": 2, "stride": 1 },
             { "type": "dense", "units": 8, "name": "h" }, { "type": "dense", "units": 8, "activation": "identity", "name": "r" },
             { "type": "add", "from": ["h", "r"] }, { "type": "dense", "units": 3, "activation": "sigmoid" } ], "loss": "sse" }
        """,
        // layer normalisation on 4-D and flat values, global average pooling
        """
        { "input": [2, 4, 3], "layers": [ { "type": "conv", "filters": 3, "kernel": 3, "padding": 1, "activation": "identity" },
             { "type": "layernorm", "activation": "gelu" }, { "type": "globalavgpool" }, { "type": "dense", "units": 5, "activation": "identity" },
             { "type": "layernorm" }, { "type": "dense", "units": 3 } ] }
        """,
        // batch normalisation (inference: the running statistics) on channels and on flat features
        """
        { "input": [2, 5, 4], "layers": [ { "type": "conv", "filters": 3, "kernel": 3, "padding": 1, "activation": "identity" },
             { "type": "batchnorm", "activation": "relu" }, { "type": "flatten" }, { "type": "dense", "units": 6, "activation": "identity" },
             { "type": "batchnorm", "activation": "silu" }, { "type": "dense", "units": 3 } ] }
        """,
        // today's activations inside a graph: GELU and SiLU on convolutions (4-D values), LeakyReLU and ELU on dense layers
        """
        { "input": [1, 6, 6], "layers": [ { "type": "conv", "filters": 3, "kernel": 3, "padding": 1, "activation": "gelu" },
             { "type": "conv", "filters": 2, "kernel": 3, "activation": "silu" }, { "type": "flatten" },
             { "type": "dense", "units": 7, "activation": "leaky-relu" }, { "type": "dense", "units": 5, "activation": "elu" },
             { "type": "dense", "units": 3 } ] }
        """,
    };

    [Theory]
    [MemberData(nameof(Graphs))]
    public void ONNX_Runtime_gives_a_graph_network_s_outputs(string json)
    {
        var spec = ModelSpec.Parse(json, "spec");
        var parameters = new float[spec.ParameterCount];
        Initializer.Initialize(spec, parameters, InitScheme.PyTorch, 3);
        for (int i = 0; i < parameters.Length; i++) parameters[i] += 0.1f * MathF.Sin(i); // no layer left at its identity start (LayerNorm's γ = 1, β = 0)
        var model = new TrainedModel(spec, parameters, "onnx graph test");
        const int rows = 19;
        var rng = new Rng(6);
        var input = new float[rows * spec.InputSize];
        for (int i = 0; i < input.Length; i++) input[i] = (float)(rng.NextDouble() * 2 - 1);
        var expected = RunEngine(model, input, rows);
        var actual = RunOnnx(OnnxExport.ToBytes(model), input, rows, spec.InputSize, spec.OutputSize);
        float worst = expected.Zip(actual, (e, a) => Math.Abs(e - a)).Max();
        Assert.True(worst <= 1e-5f, $"max |Δ| = {worst}");
    }

    [Fact]
    public void Export_onnx_on_a_trained_Fashion_MNIST_model_predicts_like_evaluate()
    {
        string model = _dir.File("m.dnn"), onnx = _dir.File("m.onnx");
        var (exit, _, err) = CliRunner.Run("train", "--epochs", "1", "--train-limit", "2000", "--save", model);
        Assert.True(exit == 0, err);
        (exit, var output, err) = CliRunner.Run("export", model, "--format", "onnx", "-o", onnx);
        Assert.True(exit == 0, err);
        Assert.Contains(onnx, output);

        var trained = ModelLoader.Load(model);
        var data = DistributedNN.Data.DataSource.Load(null);
        const int rows = 200;
        var input = new float[rows * data.Test.FeatureCount];
        data.Test.CopyRows(0, rows, input);
        var expected = RunEngine(trained, input, rows);
        // the exported model takes the pixels as they are stored, bytes 0–255, and scales them itself
        Assert.Equal(255f, trained.Input?.Scale);
        var pixels = input.Select(v => MathF.Round(v * 255f)).ToArray();
        var actual = RunOnnx(File.ReadAllBytes(onnx), pixels, rows, trained.Spec.InputSize, trained.Spec.OutputSize);
        Assert.True(expected.Zip(actual, (e, a) => Math.Abs(e - a)).Max() <= 1e-5f);
        int agree = 0;
        for (int r = 0; r < rows; r++)
        {
            int e = Array.IndexOf(expected, expected.AsSpan(r * 10, 10).ToArray().Max(), r * 10) - r * 10;
            int a = Array.IndexOf(actual, actual.AsSpan(r * 10, 10).ToArray().Max(), r * 10) - r * 10;
            if (e == a) agree++;
        }
        Assert.Equal(rows, agree);

        (exit, _, err) = CliRunner.Run("export", model, "--format", "tflite");
        Assert.Equal(1, exit);
        Assert.Contains("--format 'tflite' is not supported (supported: json, onnx)", err);
    }
}
