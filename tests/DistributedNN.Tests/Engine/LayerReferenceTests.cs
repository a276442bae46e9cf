using System.Text.Json;
using DistributedNN.Model;

namespace DistributedNN.Tests.Engine;

/// <summary>Small networks with the newer layers (layer and batch normalisation, global average pooling, the newer
/// activations between them): the loss and every parameter's gradient against PyTorch's for fixed weights, inputs and
/// labels (bench/torch_layers.py wrote them); for batch normalisation also the batch statistics its running averages
/// take and the outputs in evaluation with given running statistics.</summary>
public sealed class LayerReferenceTests
{
    private static JsonElement Cases()
    {
        using var stream = typeof(LayerReferenceTests).Assembly.GetManifestResourceStream("torch-layers.json")!;
        return JsonDocument.Parse(stream).RootElement.GetProperty("cases").Clone();
    }

    public static TheoryData<string> Names() => new(Cases().EnumerateArray().Select(c => c.GetProperty("name").GetString()!));

    private static float[] Floats(JsonElement e) => e.EnumerateArray().Select(v => v.GetSingle()).ToArray();

    /// <summary>Our flat vector from torch's parameters (which hold no running statistics): each batchnorm layer's
    /// statistics from <paramref name="running"/> (mean then variance), else torch's start, 0 and 1.</summary>
    private static float[] Ours(NetworkSpec spec, float[] torch, float[][]? running = null)
    {
        var ours = new float[spec.ParameterCount];
        int at = 0, norm = 0;
        for (int l = 0; l < spec.Layers.Count; l++)
        {
            var layer = spec.Layers[l];
            int trained = layer.WeightCount + layer.BiasCount;
            torch.AsSpan(at, trained).CopyTo(ours.AsSpan(spec.WeightOffset(l)));
            at += trained;
            if (layer.StatCount == 0) continue;
            int c = layer.StatCount / 2;
            var stats = running?[norm] ?? [.. Enumerable.Repeat(0f, c), .. Enumerable.Repeat(1f, c)];
            stats.CopyTo(ours.AsSpan(spec.StatOffset(l)));
            norm++;
        }
        Assert.Equal(torch.Length, at);
        return ours;
    }

    /// <summary>The trained parts of our flat vector (the statistics left out), in torch's order.</summary>
    private static float[] Trained(NetworkSpec spec, float[] ours) =>
        Enumerable.Range(0, spec.Layers.Count).SelectMany(l => ours.AsSpan(spec.TrainedRange(l).Offset, spec.TrainedRange(l).Length).ToArray()).ToArray();

    private static void Close(float[] expected, float[] actual, string what, float relative = 1e-4f)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(actual[i] - expected[i]) <= 2e-6 + relative * Math.Abs(expected[i]), $"{what} {i}: dnn {actual[i]:G9}, torch {expected[i]:G9}");
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Loss_and_gradient_are_torchs(string name)
    {
        var c = Cases().EnumerateArray().Single(e => e.GetProperty("name").GetString() == name);
        var spec = ModelSpec.Parse(c.GetProperty("spec").GetRawText(), name);
        var parameters = Ours(spec, Floats(c.GetProperty("parameters")));
        int rows = c.GetProperty("rows").GetInt32();
        var input = Floats(c.GetProperty("input"));
        var labels = c.GetProperty("labels").EnumerateArray().Select(v => v.GetInt32()).ToArray();
        var gradient = new float[parameters.Length];
        float smoothing = c.GetProperty("smoothing").GetSingle();
        var stats = new Backprop(spec, rows, smoothing).Gradient(parameters, input, labels, rows, gradient); // one shard: torch's whole batch
        double loss = c.GetProperty("loss").GetDouble();
        Assert.True(Math.Abs(stats.LossSum - loss) <= 1e-5 * Math.Abs(loss), $"loss {stats.LossSum} against torch's {loss}");
        Close(Floats(c.GetProperty("gradient")), Trained(spec, gradient), $"{name}: parameter");
        if (!c.TryGetProperty("batch_mean", out var batchMean)) return;

        // the statistics' slots hold rows × the batch's mean and unbiased variance: what torch's running averages take
        var norms = Enumerable.Range(0, spec.Layers.Count).Where(l => spec.Layers[l].StatCount > 0).ToArray();
        var mean = norms.SelectMany(l => gradient.AsSpan(spec.StatOffset(l), spec.Layers[l].StatCount / 2).ToArray()).Select(v => v / rows).ToArray();
        var variance = norms.SelectMany(l => gradient.AsSpan(spec.StatOffset(l) + spec.Layers[l].StatCount / 2, spec.Layers[l].StatCount / 2).ToArray()).Select(v => v / rows).ToArray();
        Close(Floats(batchMean), mean, "batch mean", 1e-5f);
        Close(Floats(c.GetProperty("batch_var")), variance, "batch variance", 1e-5f);

        // evaluation uses the running statistics
        var running = c.GetProperty("eval_running").EnumerateArray().Select(Floats).ToArray();
        var evaluated = Ours(spec, Floats(c.GetProperty("parameters")), running);
        Close(Floats(c.GetProperty("eval_output")), new Backprop(spec, rows).Forward(evaluated, input, rows).ToArray(), "evaluation output", 1e-5f);
    }
}
