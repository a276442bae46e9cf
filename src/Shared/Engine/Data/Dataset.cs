namespace DistributedNN.Data;

/// <summary>
/// A labelled classification data set, batch-major: sample i is row i of <see cref="Rows"/> (<see cref="FeatureCount"/>
/// values), its class is <c>Labels[i]</c>. The rows stay in the type they came in (<see cref="SampleRows"/>: floats, or
/// pixel bytes, perhaps mapped from a cache file); readers copy the rows they need as floats.
/// </summary>
public sealed class Dataset
{
    public Dataset(string name, float[] features, int[] labels, int featureCount, int classCount)
        : this(name, CheckedRows(features, labels, featureCount), labels, classCount)
    {
    }

    public Dataset(string name, SampleRows rows, int[] labels, int classCount)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(classCount);
        if (rows.Count != labels.Length)
            throw new ArgumentException($"{rows.Count} rows but {labels.Length} labels");
        Name = name;
        Rows = rows;
        Labels = labels;
        ClassCount = classCount;
    }

    public string Name { get; }
    public SampleRows Rows { get; }
    public int[] Labels { get; }
    public int FeatureCount => Rows.Width;
    public int ClassCount { get; }
    public int Count => Labels.Length;

    /// <summary>The samples as one float array, when that is how they are stored (CSV data); pixel bytes are not.</summary>
    /// <exception cref="InvalidOperationException">The rows are stored as bytes or in a cache file: copy them with <see cref="CopyRows"/>.</exception>
    public float[] Features => Rows.FloatArray
        ?? throw new InvalidOperationException($"{Name}'s samples are stored as {Rows.Element} rows, not one float array; copy them with CopyRows");

    /// <summary>Samples [<paramref name="start"/>, <paramref name="start"/> + <paramref name="count"/>) as floats.</summary>
    public void CopyRows(int start, int count, Span<float> into) => Rows.CopyTo(start, count, into);

    /// <summary>Sample <paramref name="index"/> as floats.</summary>
    public void CopySample(int index, Span<float> into) => Rows.CopyTo(index, 1, into);

    /// <summary>Sample <paramref name="index"/> as a new array (not for a training loop: <see cref="CopySample"/> copies without allocating).</summary>
    public float[] Sample(int index)
    {
        var values = new float[FeatureCount];
        CopySample(index, values);
        return values;
    }

    /// <summary>The first <paramref name="count"/> samples, e.g. for <c>--train-limit</c> (the rows are not copied).</summary>
    public Dataset Take(int count)
    {
        if (count >= Count) return this;
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        return new Dataset(Name, Rows.Take(count), Labels.AsSpan(0, count).ToArray(), ClassCount);
    }

    /// <summary>The same samples under another name or class count.</summary>
    public Dataset With(string? name = null, int? classCount = null) => new(name ?? Name, Rows, Labels, classCount ?? ClassCount);

    private static SampleRows CheckedRows(float[] features, int[] labels, int featureCount)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(featureCount);
        if (features.Length != (long)labels.Length * featureCount)
            throw new ArgumentException($"features hold {features.Length} values, expected {labels.Length}×{featureCount}");
        return SampleRows.Of(features, featureCount);
    }
}
