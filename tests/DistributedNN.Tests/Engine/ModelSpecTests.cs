using DistributedNN.Model;
using DistributedNN.Numerics;
using DistributedNN.Protocol;
using DistributedNN.Serialization;

namespace DistributedNN.Tests.Engine;

/// <summary>The model spec: shapes worked out layer by layer, one-line errors for what does not fit, and every format that carries it.</summary>
public sealed class ModelSpecTests
{
    private const string Cnn = """
        { "input": [1, 28, 28], "layers": [
            { "type": "conv", "filters": 32, "kernel": 5 }, { "type": "maxpool", "size": 2 },
            { "type": "conv", "filters": 64, "kernel": 5 }, { "type": "maxpool", "size": 2 },
            { "type": "flatten" }, { "type": "dense", "units": 128 }, { "type": "dense", "units": 10 } ] }
        """;

    [Fact]
    public void The_issue_s_CNN_has_the_shapes_and_parameters_of_its_PyTorch_twin()
    {
        var spec = ModelSpec.Parse(Cnn, "cnn");
        Assert.Equal(new TensorShape(32, 24, 24), spec.Layers[0].OutShape);
        Assert.Equal(new TensorShape(32, 12, 12), spec.Layers[1].OutShape);
        Assert.Equal(new TensorShape(64, 8, 8), spec.Layers[2].OutShape);
        Assert.Equal(new TensorShape(64, 4, 4), spec.Layers[3].OutShape);
        Assert.Equal(1024, spec.Layers[5].Inputs);
        // nn.Conv2d(1,32,5): 832, nn.Conv2d(32,64,5): 51,264, nn.Linear(1024,128): 131,200, nn.Linear(128,10): 1,290
        Assert.Equal(832 + 51_264 + 131_200 + 1_290, spec.ParameterCount);
        Assert.Equal(Activation.ReLU, spec.Layers[0].Activation);       // hidden default
        Assert.Equal(Activation.Softmax, spec.Layers[^1].Activation);   // output default for cross-entropy
        Assert.Equal(LossKind.CrossEntropy, spec.Loss);
    }

    [Fact]
    public void YAML_reads_as_the_same_network_as_JSON_and_the_canonical_JSON_reads_back_to_it()
    {
        const string yaml = """
            # comments are fine
            input: [1, 28, 28]
            layers:
              - { type: conv, filters: 32, kernel: 5 }
              - type: maxpool
                size: 2
              - { type: conv, filters: 64, kernel: 5 }
              - { type: maxpool, size: 2 }
              - { type: flatten }
              - { type: dense, units: 128 }
              - { type: dense, units: 10 }
            """;
        var fromJson = ModelSpec.Parse(Cnn, "json");
        var fromYaml = ModelSpec.Parse(yaml, "yaml", yaml: true);
        Assert.Equal(ModelSpec.ToJson(fromJson), ModelSpec.ToJson(fromYaml));
        var again = ModelSpec.Parse(ModelSpec.ToJson(fromJson), "canonical");
        Assert.Equal(fromJson.Describe(), again.Describe());
        Assert.Equal(ModelSpec.ToJson(fromJson), ModelSpec.ToJson(again));
        // and over the wire
        Assert.Equal(ModelSpec.ToJson(fromJson), ModelSpec.ToJson(fromJson.ToDescription().ToSpec()));
    }

    public static TheoryData<string, string> BadSpecs() => new()
    {
        { """{ "input": [1, 4, 4], "layers": [ { "type": "conv", "filters": 2, "kernel": 5 }, { "type": "dense", "units": 2 } ] }""", "a 5×5 kernel does not fit a 4×4 input" },
        { """{ "input": [1, 6, 6], "layers": [ { "type": "maxpool", "size": 7 }, { "type": "dense", "units": 2 } ] }""", "window does not fit" },
        { """{ "input": 8, "layers": [ { "type": "dense", "units": 4, "name": "a" }, { "type": "dense", "units": 3 }, { "type": "add", "from": ["a", "layer2"] }, { "type": "dense", "units": 2 } ] }""", "adds tensors of different shapes: a 4, layer2 3" },
        { """{ "input": [2, 4, 4], "layers": [ { "type": "conv", "filters": 2, "kernel": 3, "name": "c" }, { "type": "concat", "from": ["c", "input"] }, { "type": "dense", "units": 2 } ] }""", "height × width differ" },
        { """{ "input": 8, "layers": [ { "type": "dense", "units": 4 }, { "type": "dense", "units": 2, "from": "nowhere" } ] }""", "'nowhere', which is not an earlier layer" },
        { """{ "input": 8, "layers": [ { "type": "dense", "units": 4, "name": "a" }, { "type": "dense", "units": 4, "from": "input" }, { "type": "dense", "units": 2 } ] }""", "layer 1 'a' feeds no later layer" },
        { """{ "input": 8, "layers": [ { "type": "dense", "unit": 4 } ] }""", "unknown key \"unit\"" },
        { """{ "input": 8, "layers": [ { "type": "dense" } ] }""", "needs \"units\"" },
        { """{ "input": 8, "layers": [ { "type": "dropout", "rate": 1.5 }, { "type": "dense", "units": 2 } ] }""", "is not in [0, 1)" },
        { """{ "input": 8, "layers": [ { "type": "lstm", "units": 2 } ] }""", "unknown type 'lstm'" },
        { """{ "input": [0, 3], "layers": [ { "type": "dense", "units": 2 } ] }""", "is not a shape" },
        { """{ "layers": [ { "type": "dense", "units": 2 } ] }""", "\"input\" is missing" },
        { """{ "input": 8, "layers": [ { "type": "dense", "units": 4, "activation": "softmax" }, { "type": "dense", "units": 2 } ] }""", "softmax is an output activation" },
        { """{ "input": 8, "loss": "sse", "layers": [ { "type": "dense", "units": 2, "activation": "mish" } ] }""", "activation 'mish'" },
        { """{ "input": 8, "layers": [ { "type": "dense", "units": 2 } """, "not valid JSON" },
    };

    [Theory]
    [MemberData(nameof(BadSpecs))]
    public void A_spec_that_does_not_fit_is_a_one_line_error_naming_the_layer(string json, string expected)
    {
        var e = Assert.Throws<UserErrorException>(() => ModelSpec.Parse(json, "spec.json"));
        Assert.StartsWith("spec.json: ", e.Message);
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    private static TrainedModel Trained(string json)
    {
        var spec = ModelSpec.Parse(json, "spec");
        var p = new float[spec.ParameterCount];
        Initializer.Initialize(spec, p, InitScheme.PyTorch, 3);
        return new TrainedModel(spec, p, "notes");
    }

    [Fact]
    public void A_graph_network_survives_the_model_file_and_the_JSON_export_bit_for_bit()
    {
        var model = Trained(Cnn);
        var back = ModelFile.Decode(ModelFile.Encode(model), "model.dnn");
        Assert.Equal(ModelSpec.ToJson(model.Spec), ModelSpec.ToJson(back.Spec));
        Assert.Equal(model.Parameters, back.Parameters);
        Assert.Equal("notes", back.Notes);

        using var ms = new MemoryStream();
        ModelJson.Write(ms, model);
        var json = ModelJson.Parse(ms.ToArray(), "model.json");
        Assert.Equal(ModelSpec.ToJson(model.Spec), ModelSpec.ToJson(json.Spec));
        Assert.Equal(model.Parameters, json.Parameters);
        // the conv weight nests as nn.Conv2d's [filters][channels][k][k]
        using var doc = System.Text.Json.JsonDocument.Parse(ms.ToArray());
        var w = doc.RootElement.GetProperty("layers")[0].GetProperty("weight");
        Assert.Equal([32, 1, 5, 5], new[] { w.GetArrayLength(), w[0].GetArrayLength(), w[0][0].GetArrayLength(), w[0][0][0].GetArrayLength() });
        Assert.Equal(model.Parameters[1 * 25 + 2 * 5 + 3], w[1][0][2][3].GetSingle());

    }

    [Fact]
    public void A_plain_stack_keeps_model_file_version_1_and_a_graph_writes_version_2()
    {
        var stack = new TrainedModel(NetworkSpec.FromSizes([4, 3, 2], Activation.ReLU, Activation.Softmax, LossKind.CrossEntropy), new float[4 * 3 + 3 + 3 * 2 + 2]);
        Assert.Equal(ModelFile.Version, BitConverter.ToUInt32(ModelFile.Encode(stack), 8));
        Assert.Equal(ModelFile.GraphVersion, BitConverter.ToUInt32(ModelFile.Encode(Trained(Cnn)), 8));
    }

    [Fact]
    public void Convolution_weights_start_with_their_fan_in()
    {
        var spec = ModelSpec.Parse(Cnn, "cnn");
        var p = new float[spec.ParameterCount];
        Initializer.Initialize(spec, p, InitScheme.He, 1);
        // He: std √(2 / fan_in) with fan_in = channels × k × k = 32 × 25 for the second convolution
        var w = p.AsSpan(spec.WeightOffset(2), spec.Layers[2].WeightCount).ToArray();
        double std = Math.Sqrt(w.Select(v => (double)v * v).Average());
        Assert.Equal(Math.Sqrt(2.0 / 800), std, 0.002);
        Assert.All(p.AsSpan(spec.BiasOffset(2), 64).ToArray(), b => Assert.Equal(0f, b));
    }
}
