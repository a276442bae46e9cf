using System.Text.Json;
using DistributedNN.Model;

namespace DistributedNN.Tests.Engine;

/// <summary>Small networks with the newer layers (LayerNorm on dense and convolutional features, global average pooling,
/// the newer activations between them): the loss and every parameter's gradient against PyTorch's for fixed weights,
/// inputs and labels (bench/torch_layers.py wrote them).</summary>
public sealed class LayerReferenceTests
{
    private static JsonElement Cases()
    {
        using var stream = typeof(LayerReferenceTests).Assembly.GetManifestResourceStream("torch-layers.json")!;
        return JsonDocument.Parse(stream).RootElement.GetProperty("cases").Clone();
    }

    public static TheoryData<string> Names() => new(Cases().EnumerateArray().Select(c => c.GetProperty("name").GetString()!));

    private static float[] Floats(JsonElement e) => e.EnumerateArray().Select(v => v.GetSingle()).ToArray();

    [Theory]
    [MemberData(nameof(Names))]
    public void Loss_and_gradient_are_torchs(string name)
    {
        var c = Cases().EnumerateArray().Single(e => e.GetProperty("name").GetString() == name);
        var spec = ModelSpec.Parse(c.GetProperty("spec").GetRawText(), name);
        var parameters = Floats(c.GetProperty("parameters"));
        Assert.Equal(spec.ParameterCount, parameters.Length);
        int rows = c.GetProperty("rows").GetInt32();
        var labels = c.GetProperty("labels").EnumerateArray().Select(v => v.GetInt32()).ToArray();
        var gradient = new float[parameters.Length];
        var stats = new Backprop(spec, rows).Gradient(parameters, Floats(c.GetProperty("input")), labels, rows, gradient);
        double loss = c.GetProperty("loss").GetDouble();
        Assert.True(Math.Abs(stats.LossSum - loss) <= 1e-5 * Math.Abs(loss), $"loss {stats.LossSum} against torch's {loss}");
        var expected = Floats(c.GetProperty("gradient"));
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(gradient[i] - expected[i]) <= 2e-6 + 1e-4 * Math.Abs(expected[i]), $"{name}: parameter {i}: dnn {gradient[i]:G9}, torch {expected[i]:G9}");
    }
}
