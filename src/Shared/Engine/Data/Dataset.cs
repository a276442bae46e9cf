namespace DistributedNN.Data;

/// <summary>
/// A labelled classification data set held in memory, batch-major: sample i's features are
/// <c>Features[i*FeatureCount .. (i+1)*FeatureCount)</c>, its class is <c>Labels[i]</c>.
/// </summary>
public sealed class Dataset
{
    public Dataset(string name, float[] features, int[] labels, int featureCount, int classCount)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(featureCount);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(classCount);
        if (features.Length != (long)labels.Length * featureCount)
            throw new ArgumentException($"features hold {features.Length} values, expected {labels.Length}×{featureCount}");
        Name = name;
        Features = features;
        Labels = labels;
        FeatureCount = featureCount;
        ClassCount = classCount;
    }

    public string Name { get; }
    public float[] Features { get; }
    public int[] Labels { get; }
    public int FeatureCount { get; }
    public int ClassCount { get; }
    public int Count => Labels.Length;

    public ReadOnlySpan<float> Sample(int index) => Features.AsSpan(index * FeatureCount, FeatureCount);

    /// <summary>The first <paramref name="count"/> samples (a copy), e.g. for <c>--train-limit</c>.</summary>
    public Dataset Take(int count)
    {
        if (count >= Count) return this;
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        return new Dataset(Name, Features.AsSpan(0, count * FeatureCount).ToArray(), Labels.AsSpan(0, count).ToArray(), FeatureCount, ClassCount);
    }
}
