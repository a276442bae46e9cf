using System.Text.Json;
using DistributedNN.Model;
using DistributedNN.Numerics;

namespace DistributedNN.Tests.Engine;

/// <summary>Every activation's forward and backward pass against torch.nn's on one fixed input (bench/torch_activations.py
/// wrote the values), on every kernel path; and the erf behind GELU against Python's math.erf.</summary>
[Collection(KernelPathCollection.Name)]
public sealed class ActivationReferenceTests
{
    private static JsonElement Reference()
    {
        using var stream = typeof(ActivationReferenceTests).Assembly.GetManifestResourceStream("torch-activations.json")!;
        return JsonDocument.Parse(stream).RootElement.Clone();
    }

    private static float[] Floats(JsonElement e) => e.EnumerateArray().Select(v => v.GetSingle()).ToArray();

    public static TheoryData<string, KernelPath> Cases()
    {
        var data = new TheoryData<string, KernelPath>();
        foreach (var name in Reference().GetProperty("activations").EnumerateObject().Select(p => p.Name))
            foreach (var path in new[] { KernelPath.Scalar, KernelPath.Vector256, KernelPath.Vector512 })
                data.Add(name, path);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public unsafe void Forward_and_backward_give_torchs_values(string name, KernelPath path)
    {
        var root = Reference();
        Assert.True(Activations.TryParse(name, out var act));
        var z = Floats(root.GetProperty("z"));
        var g = Floats(root.GetProperty("g"));
        var expected = root.GetProperty("activations").GetProperty(name);
        var a = (float[])z.Clone();
        var delta = (float[])g.Clone();
        var zeros = new float[z.Length];
        using (KernelPathScope.Use(path))
            fixed (float* pa = a, pz = z, pd = delta, pb = zeros)
            {
                Activations.ForwardRow(act, pa, pb, a.Length);
                Activations.BackwardRow(act, pa, pd, a.Length, pz);
            }
        Close(Floats(expected.GetProperty("a")), a, $"{name} a");
        Close(Floats(expected.GetProperty("delta")), delta, $"{name} δ");
    }

    // float against float: torch's own float arithmetic (e.g. its GELU rounds to 0 below −5.5) leaves a few ulp and tiny absolutes
    private static void Close(float[] expected, float[] actual, string what)
    {
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-6f * Math.Max(1f, Math.Abs(expected[i])),
                $"{what}[{i}]: torch {expected[i]:G9}, dnn {actual[i]:G9}");
    }

    [Fact]
    public void Erf_is_maths_erf()
    {
        var erf = Reference().GetProperty("erf");
        var x = erf.GetProperty("x").EnumerateArray().Select(v => v.GetDouble()).ToArray();
        var expected = erf.GetProperty("erf").EnumerateArray().Select(v => v.GetDouble()).ToArray();
        for (int i = 0; i < x.Length; i++)
            Assert.True(Math.Abs(SmoothActivations.Erf(x[i]) - expected[i]) <= 1e-15, $"erf({x[i]}) = {SmoothActivations.Erf(x[i]):R}, math.erf {expected[i]:R}");
    }
}
