using System.Text.Json;

namespace DistributedNN.Data;

/// <summary>
/// What a model does to a raw sample before its first layer: <c>input_j = (raw_j / Scale − Mean_j) / Std_j</c>, and
/// the names of its classes where they are known. Kept in the model file (version 3), the JSON export and the ONNX
/// export (as nodes), so that every consumer of a model takes the raw values: CSV numbers as written, image pixels as
/// bytes 0–255.
/// </summary>
/// <remarks>
/// <para>Image data (IDX, image files): <c>Scale</c> 255, no statistics — the readers' <c>byte / 255f</c>. CSV data:
/// <c>Scale</c> 1 and the training rows' mean and population standard deviation per feature (<see cref="Normalizer"/>;
/// a constant feature, std 0, is only centred). The arithmetic is the training pipeline's own — the division in
/// float, the standardisation in double rounded once to float — so a model given raw rows sees the very inputs it was
/// trained on, bit for bit.</para>
/// </remarks>
public sealed class InputTransform
{
    public const float PixelScale = 255f;

    private readonly double[]? _mean, _std;
    private readonly string[]? _classes;

    /// <exception cref="DataFormatException">The figures do not make a transform (what a broken file would hold).</exception>
    public InputTransform(float scale, IReadOnlyList<double>? mean = null, IReadOnlyList<double>? standardDeviation = null, IReadOnlyList<string>? classes = null)
    {
        if (!(scale > 0) || !float.IsFinite(scale)) throw new DataFormatException($"input scale {scale} is not a positive number");
        if ((mean is null) != (standardDeviation is null)) throw new DataFormatException("input statistics need both a mean and a standard deviation");
        if (mean is not null && (mean.Count == 0 || mean.Count != standardDeviation!.Count))
            throw new DataFormatException($"input statistics hold {mean.Count} means but {standardDeviation!.Count} standard deviations");
        if (mean is not null && (mean.Any(m => !double.IsFinite(m)) || standardDeviation!.Any(s => !double.IsFinite(s) || s < 0)))
            throw new DataFormatException("input statistics hold a value that is not finite, or a negative standard deviation");
        if (classes is not null && (classes.Count == 0 || classes.Any(string.IsNullOrWhiteSpace)))
            throw new DataFormatException("class names must be a non-empty list of non-empty names");
        Scale = scale;
        _mean = mean?.ToArray();
        _std = standardDeviation?.ToArray();
        _classes = classes?.ToArray();
    }

    /// <summary>Raw values used as they are (a CSV read without standardising).</summary>
    public static InputTransform Identity { get; } = new(1f);

    /// <summary>Image pixels: bytes divided by 255.</summary>
    public static InputTransform Pixels { get; } = new(PixelScale);

    /// <summary>CSV features standardised with the training rows' statistics.</summary>
    public static InputTransform Standardising(Normalizer normalizer) => new(1f, normalizer.Mean, normalizer.StandardDeviation);

    public float Scale { get; }

    public IReadOnlyList<double>? Mean => _mean;

    public IReadOnlyList<double>? StandardDeviation => _std;

    /// <summary>The class names, label 0 first; null where not known.</summary>
    public IReadOnlyList<string>? Classes => _classes;

    public bool Standardises => _mean is not null;

    /// <summary>This transform with the given class names (null: none known).</summary>
    public InputTransform WithClasses(IReadOnlyList<string>? classes) => new(Scale, _mean, _std, classes);

    /// <summary>Checks the transform against a network's inputs and outputs; a mismatch is a broken file.</summary>
    public void Check(int inputs, int classes, string name)
    {
        if (_mean is not null && _mean.Length != inputs)
            throw new DataFormatException($"{name}: the input statistics cover {_mean.Length} features but the network takes {inputs}");
        if (_classes is not null && _classes.Length != classes)
            throw new DataFormatException($"{name}: {_classes.Length} class names for a network of {classes} classes");
    }

    /// <summary>
    /// A data set as this model's inputs, given the transform its features already went through: none
    /// (<see cref="Identity"/>) or the readers' pixel scaling (<see cref="Pixels"/>, undone exactly: its values are bytes).
    /// </summary>
    public Dataset Apply(Dataset data, InputTransform applied)
    {
        if (applied.Standardises) throw new ArgumentException("the data must be loaded without standardising", nameof(applied));
        if (_mean is not null && _mean.Length != data.FeatureCount)
            throw new UserErrorException($"the model takes {_mean.Length} inputs but {data.Name} has {data.FeatureCount} features");
        if (applied.Scale == Scale && !Standardises) return data;
        var result = new float[(long)data.Count * data.FeatureCount];
        var sample = new float[data.FeatureCount];
        for (int row = 0; row < data.Count; row++)
        {
            data.CopySample(row, sample);
            Apply(sample, applied, result.AsSpan(row * data.FeatureCount, data.FeatureCount));
        }
        return new Dataset(data.Name, result, data.Labels, data.FeatureCount, data.ClassCount);
    }

    /// <summary>One sample as the network's input, given the transform its values went through (see <see cref="Apply(Dataset, InputTransform)"/>).</summary>
    public float[] Apply(ReadOnlySpan<float> values, InputTransform applied)
    {
        var x = new float[values.Length];
        Apply(values, applied, x);
        return x;
    }

    private void Apply(ReadOnlySpan<float> values, InputTransform applied, Span<float> into)
    {
        for (int j = 0; j < values.Length; j++)
            into[j] = Feature(applied.Scale == 1f ? values[j] : MathF.Round(values[j] * applied.Scale), j);
    }

    // Normalizer.Apply's arithmetic, after the readers' division.
    private float Feature(float raw, int j)
    {
        float x = Scale == 1f ? raw : raw / Scale;
        if (_mean is null) return x;
        double scale = _std![j] > 0 ? 1.0 / _std[j] : 1.0;
        return (float)((x - _mean[j]) * scale);
    }

    /// <summary>The transform as a JSON object: <c>{"scale": 255}</c>, <c>{"scale": 1, "mean": [...], "std": [...]}</c>, plus <c>"classes"</c>.</summary>
    public void Write(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        w.WriteNumber("scale", Scale);
        if (_mean is not null)
        {
            WriteArray(w, "mean", _mean);
            WriteArray(w, "std", _std!);
        }
        if (_classes is not null)
        {
            w.WriteStartArray("classes");
            foreach (var c in _classes) w.WriteStringValue(c);
            w.WriteEndArray();
        }
        w.WriteEndObject();
    }

    public string ToJson()
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms)) Write(w);
        return System.Text.Encoding.UTF8.GetString(ms.ToArray());
    }

    /// <exception cref="DataFormatException">The element is not a transform; the message names <paramref name="name"/>.</exception>
    public static InputTransform Parse(JsonElement e, string name)
    {
        try
        {
            if (e.ValueKind != JsonValueKind.Object) throw new DataFormatException("not an object");
            float scale = e.TryGetProperty("scale", out var s) ? s.GetSingle() : 1f;
            double[]? mean = e.TryGetProperty("mean", out var m) ? m.EnumerateArray().Select(v => v.GetDouble()).ToArray() : null;
            double[]? std = e.TryGetProperty("std", out var d) ? d.EnumerateArray().Select(v => v.GetDouble()).ToArray() : null;
            string[]? classes = e.TryGetProperty("classes", out var c) ? c.EnumerateArray().Select(v => v.GetString() ?? "").ToArray() : null;
            return new InputTransform(scale, mean, std, classes);
        }
        catch (Exception x) when (x is InvalidOperationException or FormatException or DataFormatException)
        {
            throw new DataFormatException($"{name}: invalid input transform ({x.Message.Split('\n')[0].TrimEnd('.')})");
        }
    }

    public static InputTransform Parse(string json, string name)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            return Parse(doc.RootElement, name);
        }
        catch (JsonException x) { throw new DataFormatException($"{name}: invalid input transform ({x.Message.Split('\n')[0]})"); }
    }

    private static void WriteArray(Utf8JsonWriter w, string name, double[] values)
    {
        w.WriteStartArray(name);
        foreach (double v in values) w.WriteNumberValue(v);
        w.WriteEndArray();
    }
}
