using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using YamlDotNet.RepresentationModel;

namespace DistributedNN.Model;

/// <summary>
/// The model spec: a network described in JSON or YAML (docs/MODEL_SPEC.md), read by <c>train --model-spec FILE</c>
/// and stored in model files, checkpoints and the job message of a graph network.
/// <code>
/// { "input": [1, 28, 28], "loss": "cross-entropy",
///   "layers": [ { "type": "conv", "filters": 32, "kernel": 5 }, { "type": "maxpool", "size": 2 },
///               { "type": "dense", "units": 128, "name": "h" }, { "type": "dense", "units": 128 },
///               { "type": "add", "from": ["h", "layer4"] }, { "type": "dense", "units": 10 } ] }
/// </code>
/// Each layer reads the one before it unless <c>from</c> names others ("input" is the network's input; an unnamed
/// layer is "layerN", counting from 1). Shapes are worked out layer by layer; one that does not fit is a one-line error.
/// </summary>
public static class ModelSpec
{
    private static readonly string[] RootKeys = ["input", "loss", "layers", "training"];

    /// <summary>Reads a spec file (JSON, or YAML by extension .yaml/.yml or by content).</summary>
    public static NetworkSpec Load(string path)
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UserErrorException($"--model-spec {path}: cannot read it ({e.Message})");
        }
        bool yaml = path.EndsWith(".yaml", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".yml", StringComparison.OrdinalIgnoreCase)
            || !text.TrimStart().StartsWith('{');
        return Parse(text, path, yaml);
    }

    /// <summary>
    /// The spec file's <c>"training"</c> section as JSON text (null: none): the `dnn train` options the recipe comes with,
    /// keys as in a --config file; the command line, DNN_* variables and --config override it.
    /// </summary>
    public static string? TrainingSection(string path)
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; } // the spec's own reading says it
        bool yaml = path.EndsWith(".yaml", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".yml", StringComparison.OrdinalIgnoreCase)
            || !text.TrimStart().StartsWith('{');
        JsonNode? root;
        try { root = yaml ? FromYaml(text) : JsonNode.Parse(text, documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true }); }
        catch (Exception e) when (e is JsonException or YamlDotNet.Core.YamlException) { return null; }
        if (root is not JsonObject o || o["training"] is not { } training) return null;
        if (training is not JsonObject) throw new UserErrorException($"--model-spec {path}: \"training\" must be an object of dnn train options, e.g. {{\"epochs\": 15}}");
        return training.ToJsonString();
    }

    public static NetworkSpec Parse(string text, string source, bool yaml = false)
    {
        JsonNode? root;
        try { root = yaml ? FromYaml(text) : JsonNode.Parse(text, documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true }); }
        catch (Exception e) when (e is JsonException or YamlDotNet.Core.YamlException)
        {
            throw new UserErrorException($"{source}: not valid {(yaml ? "YAML" : "JSON")}: {FirstLine(e.Message)}");
        }
        try { return Build(root as JsonObject ?? throw new FormatException("the spec must be an object with \"input\" and \"layers\"")); }
        catch (FormatException e) { throw new UserErrorException($"{source}: {e.Message}"); }
        catch (UserErrorException e) { throw new UserErrorException($"{source}: {e.Message}"); }
    }

    private static string FirstLine(string s) => s.Split('\n')[0].Trim();

    private static NetworkSpec Build(JsonObject root)
    {
        CheckKeys(root, RootKeys, "the spec");
        var input = ReadShape(root["input"] ?? throw new FormatException("\"input\" is missing: give the sample's shape, e.g. [1, 28, 28] or 784"));
        var loss = LossKind.CrossEntropy;
        if (root["loss"] is { } lossNode && !Losses.TryParse(Text(lossNode, "loss"), out loss))
            throw new FormatException($"\"loss\" '{Text(lossNode, "loss")}' is not one of cross-entropy (ce), sse, mse");
        if (root["layers"] is not JsonArray items || items.Count == 0) throw new FormatException("\"layers\" must be a non-empty list");

        var names = new Dictionary<string, int>(StringComparer.Ordinal) { ["input"] = -1 };
        var shapes = new List<TensorShape>();
        var layers = new List<LayerSpec>();
        for (int i = 0; i < items.Count; i++)
        {
            var layer = ReadLayer(items[i], i, i == items.Count - 1, loss, input, names, shapes);
            layers.Add(layer);
            shapes.Add(layer.OutShape);
        }
        return new NetworkSpec(layers, loss, input);
    }

    /// <summary>One entry of "layers" as the reader of its kind sees it: where it is (for messages), its sources and their shapes, its activation.</summary>
    private sealed record Entry(JsonObject O, string Type, string Where, int[] From, TensorShape[] InShapes, Activation Activation, Dictionary<string, int> Names)
    {
        public TensorShape X => InShapes[0];
    }

    /// <summary>Entry <paramref name="i"/> of "layers": its type, name, sources and activation, then the keys of its kind.</summary>
    private static LayerSpec ReadLayer(JsonNode? item, int i, bool last, LossKind loss, TensorShape input, Dictionary<string, int> names, List<TensorShape> shapes)
    {
        string where = $"layer {i + 1}";
        if (item is not JsonObject o) throw new FormatException($"{where} is not an object");
        string type = Text(o["type"] ?? throw new FormatException($"{where} has no \"type\""), "type").ToLowerInvariant();
        string? name = o["name"] is { } nameNode ? Text(nameNode, "name") : null;
        if (name is not null) where += $" '{name}'";
        where += $" ({type})";
        var own = name ?? $"layer{i + 1}";
        if (!names.TryAdd(own, i)) throw new FormatException($"{where}: the name '{own}' is taken");
        if (name is not null) names.TryAdd($"layer{i + 1}", i);

        int[] from = ReadFrom(o["from"], names, i, where);
        var inShapes = (from.Length > 0 ? from : [i - 1]).Select(f => f < 0 ? input : shapes[f]).ToArray();
        var entry = new Entry(o, type, where, from, inShapes, ReadActivation(o, type, last, loss, where), names);
        var layer = type switch
        {
            "dense" or "linear" => Dense(entry),
            "conv" or "conv2d" => Conv(entry),
            "maxpool" or "avgpool" => Pool(entry),
            "flatten" => Flatten(entry),
            "layernorm" => LayerNorm(entry),
            "batchnorm" => BatchNorm(entry),
            "globalavgpool" => GlobalAvgPool(entry),
            "dropout" => Dropout(entry),
            "add" or "concat" => Join(entry),
            _ => throw new FormatException($"{where}: unknown type '{type}' (dense, conv, maxpool, avgpool, globalavgpool, flatten, dropout, add, concat, layernorm, batchnorm)"),
        };
        if (from.Length == 1 && type is not ("add" or "concat") && from[0] == i - 1) from = []; // the layer before: the default
        return layer with { From = from, Name = name };
    }

    // dense and conv layers default to ReLU (the output layer: softmax for cross-entropy, else identity); the others to identity
    private static Activation ReadActivation(JsonObject o, string type, bool last, LossKind loss, string where)
    {
        var activation = type is "dense" or "conv"
            ? (last ? (loss == LossKind.CrossEntropy ? Activation.Softmax : Activation.Identity) : Activation.ReLU)
            : Activation.Identity;
        if (o["activation"] is { } actNode && !Activations.TryParse(Text(actNode, "activation"), out activation))
            throw new FormatException($"{where}: activation '{Text(actNode, "activation")}' is not one of {Activations.HiddenNames}, softmax");
        return activation;
    }

    private static LayerSpec Dense(Entry e)
    {
        CheckKeys(e.O, ["type", "name", "from", "activation", "units"], e.Where);
        int units = Int(e.O, "units", e.Where, min: 1);
        return new LayerSpec(e.X.Size, units, e.Activation) { InShapeOrNull = e.X };
    }

    private static LayerSpec Conv(Entry e)
    {
        CheckKeys(e.O, ["type", "name", "from", "activation", "filters", "kernel", "stride", "padding"], e.Where);
        var x = e.X;
        var conv = new ConvShape(x.Channels, x.Height, x.Width, Int(e.O, "filters", e.Where, min: 1), Int(e.O, "kernel", e.Where, min: 1),
            Int(e.O, "kernel", e.Where, min: 1), Int(e.O, "stride", e.Where, min: 1, fallback: 1), Int(e.O, "padding", e.Where, min: 0, fallback: 0));
        Fits(conv.Validate, e.Where);
        var convOut = new TensorShape(conv.Filters, conv.OutHeight, conv.OutWidth);
        return new LayerSpec(x.Size, convOut.Size, e.Activation)
        {
            Kind = LayerKind.Conv, InShapeOrNull = x, OutShapeOrNull = convOut, Kernel = conv.KernelHeight, Stride = conv.Stride, Padding = conv.Padding,
        };
    }

    private static LayerSpec Pool(Entry e)
    {
        CheckKeys(e.O, ["type", "name", "from", "size", "stride"], e.Where);
        var x = e.X;
        int size = Int(e.O, "size", e.Where, min: 1);
        bool max = e.Type == "maxpool";
        var pool = new PoolShape(max ? PoolKind.Max : PoolKind.Average, x.Channels, x.Height, x.Width, size, Int(e.O, "stride", e.Where, min: 1, fallback: size));
        Fits(pool.Validate, e.Where);
        var poolOut = new TensorShape(pool.Channels, pool.OutHeight, pool.OutWidth);
        return new LayerSpec(x.Size, poolOut.Size, Activation.Identity)
        {
            Kind = max ? LayerKind.MaxPool : LayerKind.AvgPool, InShapeOrNull = x, OutShapeOrNull = poolOut, Kernel = size, Stride = pool.Stride,
        };
    }

    private static LayerSpec Flatten(Entry e)
    {
        CheckKeys(e.O, ["type", "name", "from"], e.Where);
        return new LayerSpec(e.X.Size, e.X.Size, Activation.Identity) { Kind = LayerKind.Flatten, InShapeOrNull = e.X };
    }

    // torch.nn.LayerNorm over the whole of each sample (its every channel and position), γ and β of that shape
    private static LayerSpec LayerNorm(Entry e)
    {
        CheckKeys(e.O, ["type", "name", "from", "activation"], e.Where);
        return new LayerSpec(e.X.Size, e.X.Size, e.Activation) { Kind = LayerKind.LayerNorm, InShapeOrNull = e.X, OutShapeOrNull = e.X };
    }

    // torch.nn.BatchNorm2d over each channel (BatchNorm1d over each feature of a flat input), statistics per shard
    private static LayerSpec BatchNorm(Entry e)
    {
        CheckKeys(e.O, ["type", "name", "from", "activation"], e.Where);
        return new LayerSpec(e.X.Size, e.X.Size, e.Activation) { Kind = LayerKind.BatchNorm, InShapeOrNull = e.X, OutShapeOrNull = e.X };
    }

    // torch.nn.AdaptiveAvgPool2d(1): each channel's mean, C×1×1
    private static LayerSpec GlobalAvgPool(Entry e)
    {
        CheckKeys(e.O, ["type", "name", "from"], e.Where);
        var pooled = new TensorShape(e.X.Channels, 1, 1);
        return new LayerSpec(e.X.Size, pooled.Size, Activation.Identity) { Kind = LayerKind.GlobalAvgPool, InShapeOrNull = e.X, OutShapeOrNull = pooled };
    }

    private static LayerSpec Dropout(Entry e)
    {
        CheckKeys(e.O, ["type", "name", "from", "rate"], e.Where);
        double rate = Number(e.O["rate"] ?? throw new FormatException($"{e.Where} needs \"rate\", the probability of dropping a unit"), e.Where + " rate");
        if (!(rate >= 0 && rate < 1)) throw new FormatException($"{e.Where}: \"rate\" {rate.ToString(CultureInfo.InvariantCulture)} is not in [0, 1)");
        return new LayerSpec(e.X.Size, e.X.Size, Activation.Identity) { Kind = LayerKind.Dropout, InShapeOrNull = e.X, OutShapeOrNull = e.X, Rate = (float)rate };
    }

    // add: tensors of one shape summed; concat: tensors of one height × width joined along the channels
    private static LayerSpec Join(Entry e)
    {
        CheckKeys(e.O, ["type", "name", "from", "activation"], e.Where);
        if (e.From.Length < 2) throw new FormatException($"{e.Where} needs \"from\" with at least two layers");
        bool add = e.Type == "add";
        var x = e.X;
        string Listed() => string.Join(", ", e.From.Select((f, k) => $"{Label(f, e.Names)} {e.InShapes[k]}"));
        if (add && e.InShapes.Any(s => s != x)) throw new FormatException($"{e.Where} adds tensors of different shapes: {Listed()}");
        if (!add && e.InShapes.Any(s => s.Height != x.Height || s.Width != x.Width))
            throw new FormatException($"{e.Where} joins tensors whose height × width differ: {Listed()}");
        var joined = add ? x : x with { Channels = e.InShapes.Sum(s => s.Channels) };
        return new LayerSpec(joined.Size, joined.Size, e.Activation)
        {
            Kind = add ? LayerKind.Add : LayerKind.Concat, InShapeOrNull = joined, OutShapeOrNull = joined,
        };
    }

    private static void Fits(Action validate, string where)
    {
        try { validate(); }
        catch (UserErrorException e) { throw new FormatException($"{where}: {e.Message}"); }
    }

    private static string Label(int f, Dictionary<string, int> names) => names.FirstOrDefault(kv => kv.Value == f).Key ?? $"layer{f + 1}";

    private static int[] ReadFrom(JsonNode? node, Dictionary<string, int> names, int index, string where)
    {
        if (node is null) return [];
        var refs = node is JsonArray a ? a.Select(n => n is null ? "" : Text(n, "from")).ToArray() : [Text(node, "from")];
        var result = new int[refs.Length];
        for (int k = 0; k < refs.Length; k++)
        {
            if (!names.TryGetValue(refs[k], out result[k]))
                throw new FormatException($"{where}: \"from\" names '{refs[k]}', which is not an earlier layer (known: {string.Join(", ", names.Keys)})");
        }
        return result;
    }

    private static TensorShape ReadShape(JsonNode node)
    {
        int[] dims = node is JsonArray a ? a.Select(n => (int)Number(n ?? throw new FormatException("\"input\" holds an empty entry"), "input")).ToArray() : [(int)Number(node, "input")];
        if (dims.Length is < 1 or > 3 || dims.Any(d => d < 1))
            throw new FormatException($"\"input\" [{string.Join(", ", dims)}] is not a shape: give [channels, height, width], [features] or a number, all positive");
        return dims.Length switch
        {
            1 => TensorShape.Flat(dims[0]),
            2 => new TensorShape(1, dims[0], dims[1]),
            _ => new TensorShape(dims[0], dims[1], dims[2]),
        };
    }

    private static void CheckKeys(JsonObject o, string[] allowed, string where)
    {
        foreach (var (key, _) in o)
            if (!allowed.Contains(key)) throw new FormatException($"{where}: unknown key \"{key}\" (expected {string.Join(", ", allowed)})");
    }

    private static int Int(JsonObject o, string key, string where, int min, int? fallback = null)
    {
        if (o[key] is not { } node)
            return fallback ?? throw new FormatException($"{where} needs \"{key}\"");
        double v = Number(node, $"{where} {key}");
        if (v != System.Math.Floor(v) || v < min || v > 1 << 20) throw new FormatException($"{where}: \"{key}\" {v.ToString(CultureInfo.InvariantCulture)} is not a whole number ≥ {min}");
        return (int)v;
    }

    private static double Number(JsonNode node, string what)
    {
        if (node is JsonValue v)
        {
            if (v.TryGetValue(out double d)) return d;
            if (v.TryGetValue(out string? s) && double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out d)) return d;
        }
        throw new FormatException($"{what}: {node.ToJsonString()} is not a number");
    }

    private static string Text(JsonNode node, string what) =>
        node is JsonValue v && v.TryGetValue(out string? s) ? s : throw new FormatException($"\"{what}\": {node.ToJsonString()} is not text");

    /// <summary>YAML to the JSON tree the reader takes: mappings, sequences, and scalars as numbers when they read as one.</summary>
    private static JsonNode? FromYaml(string text)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(text));
        if (stream.Documents.Count == 0) throw new FormatException("the file is empty");
        return Convert(stream.Documents[0].RootNode);

        static JsonNode? Convert(YamlNode node) => node switch
        {
            YamlMappingNode m => new JsonObject(m.Children.Select(kv => KeyValuePair.Create(((YamlScalarNode)kv.Key).Value ?? "", Convert(kv.Value)))),
            YamlSequenceNode s => new JsonArray(s.Children.Select(Convert).ToArray()),
            YamlScalarNode { Style: YamlDotNet.Core.ScalarStyle.Plain } p when double.TryParse(p.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) => JsonValue.Create(d),
            YamlScalarNode p => JsonValue.Create(p.Value),
            _ => throw new FormatException("unsupported YAML node"),
        };
    }

    /// <summary>The canonical JSON of a network (every layer's type, sizes, sources and activation), which <see cref="Parse"/> reads back to the same network.</summary>
    public static string ToJson(NetworkSpec spec)
    {
        var layers = new JsonArray();
        for (int l = 0; l < spec.Layers.Count; l++)
        {
            var layer = spec.Layers[l];
            var o = new JsonObject { ["type"] = layer.KindName };
            if (layer.Name is { } name) o["name"] = name;
            if (layer.From.Length > 0)
                o["from"] = new JsonArray(layer.From.Select(f => (JsonNode?)JsonValue.Create(f < 0 ? "input" : spec.Layers[f].Name ?? $"layer{f + 1}")).ToArray());
            switch (layer.Kind)
            {
                case LayerKind.Dense: o["units"] = layer.Outputs; break;
                case LayerKind.Conv:
                    o["filters"] = layer.OutShape.Channels; o["kernel"] = layer.Kernel; o["stride"] = layer.Stride; o["padding"] = layer.Padding;
                    break;
                case LayerKind.MaxPool or LayerKind.AvgPool: o["size"] = layer.Kernel; o["stride"] = layer.Stride; break;
                case LayerKind.Dropout: o["rate"] = layer.Rate; break;
            }
            if (layer.Kind is LayerKind.Dense or LayerKind.Conv or LayerKind.Add or LayerKind.Concat or LayerKind.LayerNorm or LayerKind.BatchNorm) o["activation"] = layer.Activation.Name();
            layers.Add(o);
        }
        var s = spec.InputShape;
        var root = new JsonObject
        {
            ["input"] = new JsonArray(s.Channels, s.Height, s.Width),
            ["loss"] = spec.Loss.Name(),
            ["layers"] = layers,
        };
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }
}
