using System.Text.Json;
using DistributedNN.Model;
using DistributedNN.Serialization;

namespace DistributedNN.Tests.Serialization;

public sealed class ModelFileTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    public void Dispose() => _dir.Dispose();

    private static TrainedModel SampleModel()
    {
        var spec = NetworkSpec.FromSizes([5, 4, 3], Activation.Tanh, Activation.Softmax, LossKind.CrossEntropy);
        var p = new float[spec.ParameterCount];
        Initializer.Initialize(spec, p, InitScheme.PyTorch, 9);
        p[0] = float.Epsilon; p[1] = -123456.78f; // awkward values must survive both formats
        return new TrainedModel(spec, p, "notes ✓");
    }

    [Fact]
    public void A_saved_model_loads_back_with_the_same_architecture_and_bits()
    {
        var model = SampleModel();
        string path = _dir.File("m.dnn");
        ModelFile.Save(path, model);
        var loaded = ModelFile.Load(path);
        Assert.Equal(model.Spec.Describe(), loaded.Spec.Describe());
        Assert.Equal(model.Spec.Layers, loaded.Spec.Layers);
        Assert.Equal(model.Parameters, loaded.Parameters);
        Assert.Equal("notes ✓", loaded.Notes);
        Assert.Empty(Directory.GetFiles(_dir.Path, "*.tmp*"));
    }

    [Fact]
    public void A_flipped_byte_is_reported_as_a_checksum_mismatch()
    {
        string path = _dir.File("m.dnn");
        ModelFile.Save(path, SampleModel());
        var bytes = File.ReadAllBytes(path);
        bytes[bytes.Length / 2] ^= 0x40;
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<DataFormatException>(() => ModelFile.Load(path));
        Assert.Equal($"{path}: the model file is truncated or corrupt (checksum mismatch)", e.Message);
    }

    [Fact]
    public void A_truncated_file_is_reported()
    {
        string path = _dir.File("m.dnn");
        ModelFile.Save(path, SampleModel());
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length - 50)]);
        var e = Assert.Throws<DataFormatException>(() => ModelFile.Load(path));
        Assert.Contains("truncated or corrupt", e.Message);
        File.WriteAllBytes(path, bytes[..10]);
        e = Assert.Throws<DataFormatException>(() => ModelFile.Load(path));
        Assert.StartsWith(path + ":", e.Message);
    }

    [Fact]
    public void Another_format_version_is_refused_by_name()
    {
        string path = _dir.File("m.dnn");
        ModelFile.Save(path, SampleModel());
        var bytes = File.ReadAllBytes(path);
        bytes[8] = 7; // the u32 version after the magic
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<DataFormatException>(() => ModelFile.Load(path));
        Assert.Equal($"{path}: model format version 7 is not supported (this build reads versions 1 to 3)", e.Message);
    }

    [Fact]
    public void A_file_that_is_not_a_model_is_refused()
    {
        string path = _dir.File("x.dnn");
        File.WriteAllText(path, "hello, not a model");
        var e = Assert.Throws<DataFormatException>(() => ModelFile.Load(path));
        Assert.Contains("not a DistributedNN model file", e.Message);
        var missing = Assert.Throws<DataFormatException>(() => ModelFile.Load(_dir.File("none.dnn")));
        Assert.EndsWith("model file not found", missing.Message);
    }

    [Fact]
    public void Json_export_has_pytorch_shaped_weights_and_reads_back_exactly()
    {
        var model = SampleModel();
        string path = _dir.File("m.json");
        ModelJson.Save(path, model);

        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var layers = doc.RootElement.GetProperty("layers");
        Assert.Equal(2, layers.GetArrayLength());
        var first = layers[0];
        Assert.Equal("tanh", first.GetProperty("activation").GetString());
        var w = first.GetProperty("weight");
        Assert.Equal(4, w.GetArrayLength());          // rows = outputs
        Assert.Equal(5, w[0].GetArrayLength());       // columns = inputs
        Assert.Equal(model.Parameters[5 + 2], w[1][2].GetSingle()); // W[1,2] at row 1, column 2
        Assert.Equal(model.Parameters[model.Spec.BiasOffset(0) + 3], first.GetProperty("bias")[3].GetSingle());

        var loaded = ModelLoader.Load(path);
        Assert.Equal(model.Parameters, loaded.Parameters);
        Assert.Equal(model.Spec.Layers, loaded.Spec.Layers);
    }

    [Theory]
    [InlineData("{\"layers\": []}", "no \"layers\" array")]
    [InlineData("{\"layers\": [{\"weight\": [[1,2],[3]], \"bias\": [0,0]}]}", "layer 1 weight rows differ in length")]
    [InlineData("{\"layers\": [{\"weight\": [[1,2]], \"bias\": [0,0]}]}", "layer 1 has 1 weight rows but 2 biases")]
    [InlineData("{\"layers\": [{\"weight\": [[1,\"a\"]], \"bias\": [0]}]}", "layer 1 weight holds a string where a number belongs")]
    [InlineData("{\"loss\":\"mse\", \"layers\": [{\"weight\": [[1,2]], \"bias\": [0]}, {\"weight\": [[1,2]], \"bias\": [0]}]}", "layer 2 takes 2 inputs but layer 1 gives 1")]
    [InlineData("{not json", "not valid JSON")]
    public void Bad_json_weights_are_refused_with_the_reason(string json, string reason)
    {
        string path = _dir.File("bad.json");
        File.WriteAllText(path, json);
        var e = Assert.Throws<DataFormatException>(() => ModelLoader.Load(path));
        Assert.StartsWith(path + ": ", e.Message);
        Assert.Contains(reason, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }
}
