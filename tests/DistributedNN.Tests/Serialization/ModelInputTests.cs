using DistributedNN.Data;
using DistributedNN.Model;
using DistributedNN.Numerics;
using DistributedNN.Serialization;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace DistributedNN.Tests.Serialization;

/// <summary>A model keeps its input transform in the model file (version 3), the JSON export and the ONNX export, so
/// that every consumer takes raw values.</summary>
public sealed class ModelInputTests
{
    private const string SmallCnn = """
        { "input": [1, 6, 6], "layers": [ { "type": "conv", "filters": 2, "kernel": 3 }, { "type": "maxpool", "size": 2 },
             { "type": "flatten" }, { "type": "dense", "units": 3 } ] }
        """;

    private static float[] RawRows(int rows, int features, int seed)
    {
        var rng = new Rng((ulong)seed);
        var x = new float[rows * features];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(500 + 300 * rng.NextDouble()) * (i % features + 1) - 2000;
        return x;
    }

    private static TrainedModel Standardised(int rows = 40)
    {
        var spec = NetworkSpec.FromSizes([6, 8, 3], Activation.Tanh, Activation.Softmax, LossKind.CrossEntropy);
        var p = new float[spec.ParameterCount];
        Initializer.Initialize(spec, p, InitScheme.Xavier, 2);
        var raw = new Dataset("raw", RawRows(rows, 6, 1), new int[rows], 6, 3);
        var input = InputTransform.Standardising(Normalizer.Fit(raw)).WithClasses(["low", "mid", "high"]);
        return new TrainedModel(spec, p, "std", input);
    }

    private static TrainedModel Pixels()
    {
        var spec = ModelSpec.Parse(SmallCnn, "cnn");
        var p = new float[spec.ParameterCount];
        Initializer.Initialize(spec, p, InitScheme.He, 3);
        return new TrainedModel(spec, p, "pixels", InputTransform.Pixels);
    }

    public static TheoryData<string> Models() => new() { "standardised", "pixels" };

    private static TrainedModel Model(string which) => which == "pixels" ? Pixels() : Standardised();

    private static void AssertSameInput(InputTransform expected, InputTransform? actual)
    {
        Assert.NotNull(actual);
        Assert.Equal(expected.Scale, actual.Scale);
        Assert.Equal(expected.Mean, actual.Mean);
        Assert.Equal(expected.StandardDeviation, actual.StandardDeviation);
        Assert.Equal(expected.Classes, actual.Classes);
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void The_model_file_and_the_JSON_export_keep_the_transform(string which)
    {
        var model = Model(which);
        var bytes = ModelFile.Encode(model);
        Assert.Equal(ModelFile.InputVersion, BitConverter.ToUInt32(bytes, 8));
        var loaded = ModelFile.Decode(bytes, "m.dnn");
        Assert.Equal(model.Parameters, loaded.Parameters);
        Assert.Equal(model.Spec.Describe(), loaded.Spec.Describe());
        AssertSameInput(model.Input!, loaded.Input);

        using var ms = new MemoryStream();
        ModelJson.Write(ms, model);
        var json = ModelJson.Parse(ms.ToArray(), "m.json");
        Assert.Equal(model.Parameters, json.Parameters);
        AssertSameInput(model.Input!, json.Input);
    }

    [Fact]
    public void A_model_without_a_transform_is_written_as_before()
    {
        var model = Standardised() with { Input = null };
        Assert.Equal(ModelFile.Version, BitConverter.ToUInt32(ModelFile.Encode(model), 8));
        Assert.Null(ModelFile.Decode(ModelFile.Encode(model), "m").Input);
    }

    [Fact]
    public void A_transform_that_does_not_fit_the_network_is_a_broken_file()
    {
        var model = Standardised();
        var wrong = model with { Input = new InputTransform(1f, [0, 0], [1, 1]) };
        Assert.Throws<DataFormatException>(() => ModelFile.Encode(wrong));
        using var ms = new MemoryStream();
        ModelJson.Write(ms, model);
        string text = System.Text.Encoding.UTF8.GetString(ms.ToArray()).Replace("\"classes\":[\"low\",\"mid\",\"high\"]", "\"classes\":[\"low\"]");
        var e = Assert.Throws<DataFormatException>(() => ModelJson.Parse(System.Text.Encoding.UTF8.GetBytes(text), "m.json"));
        Assert.Equal("m.json: 1 class names for a network of 3 classes", e.Message);
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void ONNX_Runtime_on_raw_values_gives_the_engines_outputs_on_the_transformed_ones(string which)
    {
        var model = Model(which);
        int n = model.Spec.InputSize, rows = 23;
        var raw = which == "pixels"
            ? Enumerable.Range(0, rows * n).Select(i => (float)((i * 37 + 11) % 256)).ToArray()
            : RawRows(rows, n, 9);
        var inputs = model.Input!.Apply(new Dataset("raw", raw, new int[rows], n, 1), InputTransform.Identity).Features;
        var expected = new Backprop(model.Spec, rows).Forward(model.Parameters, inputs, rows).ToArray();

        using var session = new InferenceSession(OnnxExport.ToBytes(model));
        using var results = session.Run([NamedOnnxValue.CreateFromTensor("input", new DenseTensor<float>(raw, [rows, n]))]);
        var actual = results.Single().AsTensor<float>().ToArray();
        Assert.Equal(expected.Length, actual.Length);
        float worst = expected.Zip(actual, (e, a) => Math.Abs(e - a)).Max();
        Assert.True(worst <= 1e-5f, $"max |Δ| = {worst}");
        // without the transform the raw values give other answers: the nodes are doing the work
        using var bare = new InferenceSession(OnnxExport.ToBytes(model with { Input = null }));
        using var bareResults = bare.Run([NamedOnnxValue.CreateFromTensor("input", new DenseTensor<float>(raw, [rows, n]))]);
        Assert.True(expected.Zip(bareResults.Single().AsTensor<float>().ToArray(), (e, a) => Math.Abs(e - a)).Max() > 1e-3f);
    }
}
