using System.Text.Json;
using DistributedNN.Data;
using DistributedNN.Model;

namespace DistributedNN.Serialization;

/// <summary>
/// The model as plain JSON for other tools: every layer's W as an array of rows (rows = outputs,
/// columns = inputs, as PyTorch's nn.Linear.weight) and b as an array (docs/MODEL_FORMAT.md).
/// <code>
/// { "format": "distributednn-model", "version": 1, "loss": "cross-entropy", "inputs": 784,
///   "layers": [ { "type": "dense", "inputs": 784, "outputs": 256, "activation": "relu",
///                 "weight": [[...784 numbers...], ...256 rows], "bias": [...256 numbers] }, ... ] }
/// </code>
/// Numbers are written in the shortest form that reads back as the same float.
/// A graph network (a model spec) adds <c>"spec"</c>, the model spec itself, and its layers carry
/// <c>"weight"</c> nested as the tensor's shape (convolution: [filters][channels][k][k], nn.Conv2d's) and
/// <c>"bias"</c> only when they have parameters. A model that knows what it does to a raw sample adds <c>"input"</c>
/// (<see cref="InputTransform"/>): <c>{"scale": 255}</c> for images, <c>{"scale": 1, "mean": [...], "std": [...]}</c>
/// for standardised CSV features, and <c>"classes"</c> where the class names are known.
/// </summary>
public static class ModelJson
{
    public const string FormatName = "distributednn-model";
    public const int Version = 1;

    public static void Save(string path, TrainedModel model)
    {
        using var ms = new MemoryStream();
        Write(ms, model);
        AtomicFile.Write(path, ms.GetBuffer().AsSpan(0, (int)ms.Length));
    }

    public static void Write(Stream stream, TrainedModel model)
    {
        model.Validate();
        var spec = model.Spec;
        using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = false });
        w.WriteStartObject();
        w.WriteString("format", FormatName);
        w.WriteNumber("version", Version);
        w.WriteString("loss", spec.Loss.Name());
        w.WriteNumber("inputs", spec.InputSize);
        w.WriteNumber("parameters", spec.ParameterCount);
        if (model.Input is { } input)
        {
            w.WritePropertyName("input");
            input.Write(w);
        }
        if (!spec.IsPlainStack)
        {
            WriteGraph(w, model);
            return;
        }
        w.WriteStartArray("layers");
        for (int l = 0; l < spec.Layers.Count; l++)
        {
            var layer = spec.Layers[l];
            w.WriteStartObject();
            w.WriteString("type", "dense");
            w.WriteNumber("inputs", layer.Inputs);
            w.WriteNumber("outputs", layer.Outputs);
            w.WriteString("activation", layer.Activation.Name());
            w.WriteStartArray("weight");
            var weights = model.Parameters.AsSpan(spec.WeightOffset(l), layer.WeightCount);
            for (int o = 0; o < layer.Outputs; o++)
            {
                w.WriteStartArray();
                foreach (float v in weights.Slice(o * layer.Inputs, layer.Inputs)) w.WriteNumberValue(v);
                w.WriteEndArray();
            }
            w.WriteEndArray();
            w.WriteStartArray("bias");
            foreach (float v in model.Parameters.AsSpan(spec.BiasOffset(l), layer.Outputs)) w.WriteNumberValue(v);
            w.WriteEndArray();
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void WriteGraph(Utf8JsonWriter w, TrainedModel model)
    {
        var spec = model.Spec;
        w.WritePropertyName("spec");
        w.WriteRawValue(ModelSpec.ToJson(spec));
        w.WriteStartArray("layers");
        for (int l = 0; l < spec.Layers.Count; l++)
        {
            var layer = spec.Layers[l];
            w.WriteStartObject();
            w.WriteString("type", layer.KindName);
            if (layer.HasParameters)
            {
                int[] shape = layer.Kind switch
                {
                    LayerKind.Conv => [layer.OutShape.Channels, layer.InShape.Channels, layer.Kernel, layer.Kernel],
                    LayerKind.LayerNorm or LayerKind.BatchNorm => [layer.WeightCount], // γ
                    _ => [layer.Outputs, layer.Inputs],
                };
                w.WritePropertyName("weight");
                WriteNested(w, model.Parameters.AsSpan(spec.WeightOffset(l), layer.WeightCount), shape);
                w.WriteStartArray("bias");
                foreach (float v in model.Parameters.AsSpan(spec.BiasOffset(l), layer.BiasCount)) w.WriteNumberValue(v);
                w.WriteEndArray();
                for (int k = 0; layer.StatCount > 0 && k < StatNames.Length; k++)
                    WriteStat(w, k, model.Parameters.AsSpan(spec.StatOffset(l) + k * layer.StatCount / 2, layer.StatCount / 2));
            }
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static readonly string[] StatNames = ["running_mean", "running_var"];

    // batch normalisation's running statistics, named as in torch's state_dict
    private static void WriteStat(Utf8JsonWriter w, int k, ReadOnlySpan<float> values)
    {
        w.WriteStartArray(StatNames[k]);
        foreach (float v in values) w.WriteNumberValue(v);
        w.WriteEndArray();
    }

    private static void WriteNested(Utf8JsonWriter w, ReadOnlySpan<float> values, ReadOnlySpan<int> shape)
    {
        w.WriteStartArray();
        if (shape.Length == 1)
            foreach (float v in values) w.WriteNumberValue(v);
        else
        {
            int inner = values.Length / shape[0];
            for (int i = 0; i < shape[0]; i++) WriteNested(w, values.Slice(i * inner, inner), shape[1..]);
        }
        w.WriteEndArray();
    }

    private static TrainedModel ParseGraph(JsonElement root, JsonElement specEl, string name)
    {
        NetworkSpec spec;
        try { spec = ModelSpec.Parse(specEl.GetRawText(), "spec"); }
        catch (UserErrorException e) { throw Bad(name, e.Message); }
        if (!root.TryGetProperty("layers", out var layersEl) || layersEl.ValueKind != JsonValueKind.Array || layersEl.GetArrayLength() != spec.Layers.Count)
            throw Bad(name, $"the \"layers\" array does not hold the spec's {spec.Layers.Count} layers");
        var parameters = new float[spec.ParameterCount];
        int l = 0;
        foreach (var layerEl in layersEl.EnumerateArray())
        {
            var layer = spec.Layers[l];
            if (layer.HasParameters)
            {
                if (!layerEl.TryGetProperty("weight", out var wEl) || !layerEl.TryGetProperty("bias", out var bEl))
                    throw Bad(name, $"layer {l + 1} ({layer.KindName}) has no \"weight\" or no \"bias\"");
                var weights = new List<float>(layer.WeightCount);
                Flatten(wEl, weights, name, $"layer {l + 1} weight");
                var bias = ReadVector(bEl, name, $"layer {l + 1} bias");
                if (weights.Count != layer.WeightCount || bias.Length != layer.BiasCount)
                    throw Bad(name, $"layer {l + 1} ({layer.KindName}) holds {weights.Count} weights and {bias.Length} biases; the spec needs {layer.WeightCount} and {layer.BiasCount}");
                weights.CopyTo(parameters, spec.WeightOffset(l));
                bias.CopyTo(parameters, spec.BiasOffset(l));
                for (int k = 0; layer.StatCount > 0 && k < StatNames.Length; k++)
                {
                    if (!layerEl.TryGetProperty(StatNames[k], out var statEl)) throw Bad(name, $"layer {l + 1} ({layer.KindName}) has no \"{StatNames[k]}\"");
                    var stat = ReadVector(statEl, name, $"layer {l + 1} {StatNames[k]}");
                    if (stat.Length != layer.StatCount / 2) throw Bad(name, $"layer {l + 1} ({layer.KindName}) holds {stat.Length} values of {StatNames[k]}; the spec needs {layer.StatCount / 2}");
                    stat.CopyTo(parameters, spec.StatOffset(l) + k * layer.StatCount / 2);
                }
            }
            l++;
        }
        return new TrainedModel(spec, parameters);
    }

    private static void Flatten(JsonElement e, List<float> into, string name, string what)
    {
        if (e.ValueKind == JsonValueKind.Array)
            foreach (var item in e.EnumerateArray()) Flatten(item, into, name, what);
        else if (e.ValueKind == JsonValueKind.Number && into.Count < int.MaxValue / 4) into.Add(e.GetSingle());
        else throw Bad(name, $"{what} holds a value that is not a number");
    }

    public static TrainedModel Load(string path)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException) { throw new DataFormatException($"{path}: file not found"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new DataFormatException($"{path}: cannot read the file ({e.Message})"); }
        return Parse(bytes, path);
    }

    public static TrainedModel Parse(ReadOnlySpan<byte> json, string name)
    {
        try
        {
            using var doc = JsonDocument.Parse(json.ToArray());
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw Bad(name, "the top level is not an object");
            if (root.TryGetProperty("version", out var ver) && ver.GetInt32() != Version)
                throw Bad(name, $"model JSON version {ver.GetInt32()} is not supported (this build reads version {Version})");
            var model = root.TryGetProperty("spec", out var specEl) ? ParseGraph(root, specEl, name) : ParseStack(root, name);
            if (!root.TryGetProperty("input", out var inputEl)) return model;
            var input = InputTransform.Parse(inputEl, name);
            input.Check(model.Spec.InputSize, TrainedModel.ClassCount(model.Spec), name);
            return model with { Input = input };
        }
        catch (JsonException e) { throw Bad(name, $"not valid JSON ({e.Message.Split('\n')[0]})"); }
        catch (InvalidOperationException e) { throw Bad(name, $"unexpected JSON value ({e.Message.Split('\n')[0]})"); }
        catch (FormatException e) { throw Bad(name, $"unexpected JSON value ({e.Message.Split('\n')[0]})"); }
    }

    private static TrainedModel ParseStack(JsonElement root, string name)
    {
        var loss = LossKind.CrossEntropy;
        if (root.TryGetProperty("loss", out var lossEl) && !Losses.TryParse(lossEl.GetString(), out loss))
            throw Bad(name, $"unknown loss '{lossEl.GetString()}'");
        if (!root.TryGetProperty("layers", out var layersEl) || layersEl.ValueKind != JsonValueKind.Array || layersEl.GetArrayLength() == 0)
            throw Bad(name, "no \"layers\" array");

        var layers = new List<LayerSpec>();
        var weights = new List<float[][]>();
        var biases = new List<float[]>();
        int index = 0;
        foreach (var layerEl in layersEl.EnumerateArray())
        {
            index++;
            if (!layerEl.TryGetProperty("weight", out var wEl) || wEl.ValueKind != JsonValueKind.Array || wEl.GetArrayLength() == 0)
                throw Bad(name, $"layer {index} has no \"weight\" matrix");
            var rows = wEl.EnumerateArray().Select(r => ReadVector(r, name, $"layer {index} weight")).ToArray();
            int inputs = rows[0].Length;
            if (inputs == 0 || rows.Any(r => r.Length != inputs)) throw Bad(name, $"layer {index} weight rows differ in length");
            if (!layerEl.TryGetProperty("bias", out var bEl)) throw Bad(name, $"layer {index} has no \"bias\" vector");
            var bias = ReadVector(bEl, name, $"layer {index} bias");
            if (bias.Length != rows.Length) throw Bad(name, $"layer {index} has {rows.Length} weight rows but {bias.Length} biases");
            var act = index == layersEl.GetArrayLength() && loss == LossKind.CrossEntropy ? Activation.Softmax : Activation.ReLU;
            if (layerEl.TryGetProperty("activation", out var actEl) && !Activations.TryParse(actEl.GetString(), out act))
                throw Bad(name, $"layer {index} has unknown activation '{actEl.GetString()}'");
            if (layers.Count > 0 && layers[^1].Outputs != inputs)
                throw Bad(name, $"layer {index} takes {inputs} inputs but layer {index - 1} gives {layers[^1].Outputs}");
            layers.Add(new LayerSpec(inputs, rows.Length, act));
            weights.Add(rows);
            biases.Add(bias);
        }
        NetworkSpec spec;
        try { spec = new NetworkSpec(layers, loss); }
        catch (UserErrorException e) { throw Bad(name, e.Message); }
        var parameters = new float[spec.ParameterCount];
        for (int l = 0; l < layers.Count; l++)
        {
            for (int o = 0; o < layers[l].Outputs; o++)
                weights[l][o].CopyTo(parameters.AsSpan(spec.WeightOffset(l) + o * layers[l].Inputs));
            biases[l].CopyTo(parameters.AsSpan(spec.BiasOffset(l)));
        }
        return new TrainedModel(spec, parameters);
    }

    private static float[] ReadVector(JsonElement el, string name, string what)
    {
        if (el.ValueKind != JsonValueKind.Array) throw Bad(name, $"{what} is not an array of numbers");
        var v = new float[el.GetArrayLength()];
        int i = 0;
        foreach (var x in el.EnumerateArray())
        {
            if (x.ValueKind != JsonValueKind.Number) throw Bad(name, $"{what} holds a {x.ValueKind.ToString().ToLowerInvariant()} where a number belongs");
            float f = x.GetSingle();
            if (!float.IsFinite(f)) throw Bad(name, $"{what} holds a number outside float range");
            v[i++] = f;
        }
        return v;
    }

    private static DataFormatException Bad(string name, string what) => new($"{name}: {what}");
}
