namespace DistributedNN.Data;

/// <summary>
/// Z-score standardisation of each feature: <c>(x - mean) / std</c>. The statistics come from the
/// training set only (<see cref="Fit"/>) and are then applied unchanged to the test set, so that
/// nothing about the test rows leaks into training.
/// </summary>
/// <remarks>
/// The standard deviation is the population one (divide by N), as in scikit-learn's StandardScaler.
/// A constant feature (std 0) is only centred: dividing by zero would turn it into NaNs, and the
/// feature carries no information anyway. Used for CSV data only; image pixels keep their [0, 1]
/// scaling, as in the PyTorch reference.
/// </remarks>
public sealed class Normalizer
{
    private readonly double[] _mean;
    private readonly double[] _std;

    /// <summary>Rebuilds a normaliser from saved statistics (e.g. stored next to a trained model).</summary>
    public Normalizer(IReadOnlyList<double> mean, IReadOnlyList<double> standardDeviation)
    {
        if (mean.Count != standardDeviation.Count)
            throw new ArgumentException($"{mean.Count} means but {standardDeviation.Count} standard deviations");
        if (mean.Count == 0)
            throw new ArgumentException("a normaliser needs at least one feature");
        _mean = [.. mean];
        _std = [.. standardDeviation];
    }

    public int FeatureCount => _mean.Length;

    public IReadOnlyList<double> Mean => _mean;

    /// <summary>The standard deviation of each feature over the training set; 0 for a constant feature.</summary>
    public IReadOnlyList<double> StandardDeviation => _std;

    /// <summary>Computes the per-feature mean and standard deviation of <paramref name="train"/>.</summary>
    public static Normalizer Fit(Dataset train)
    {
        if (train.Count == 0)
            throw new ArgumentException($"cannot fit a normaliser to the empty data set {train.Name}", nameof(train));
        var mean = ColumnMeans(train);
        var std = ColumnStandardDeviations(train, mean);
        return new Normalizer(mean, std);
    }

    /// <summary>Returns a standardised copy of <paramref name="data"/>; the input is left untouched.</summary>
    public Dataset Apply(Dataset data)
    {
        if (data.FeatureCount != FeatureCount)
            throw new ArgumentException($"data set {data.Name} has {data.FeatureCount} features but the normaliser was fitted to {FeatureCount}", nameof(data));
        var scale = new double[FeatureCount];
        for (int j = 0; j < scale.Length; j++)
            scale[j] = _std[j] > 0 ? 1.0 / _std[j] : 1.0;

        var result = new float[(long)data.Count * FeatureCount];
        var sample = new float[FeatureCount];
        for (int row = 0; row < data.Count; row++)
        {
            data.CopySample(row, sample);
            int offset = row * FeatureCount;
            for (int j = 0; j < FeatureCount; j++)
                result[offset + j] = (float)((sample[j] - _mean[j]) * scale[j]);
        }
        return new Dataset(data.Name, result, data.Labels, data.FeatureCount, data.ClassCount);
    }

    // Accumulated in double: summing tens of thousands of floats in float loses digits.
    private static double[] ColumnMeans(Dataset data)
    {
        var sum = new double[data.FeatureCount];
        var sample = new float[data.FeatureCount];
        for (int row = 0; row < data.Count; row++)
        {
            data.CopySample(row, sample);
            for (int j = 0; j < sum.Length; j++)
                sum[j] += sample[j];
        }
        for (int j = 0; j < sum.Length; j++)
            sum[j] /= data.Count;
        return sum;
    }

    // Two passes (mean first) rather than sum-of-squares, which cancels catastrophically for large offsets.
    private static double[] ColumnStandardDeviations(Dataset data, double[] mean)
    {
        var squares = new double[data.FeatureCount];
        var sample = new float[data.FeatureCount];
        for (int row = 0; row < data.Count; row++)
        {
            data.CopySample(row, sample);
            for (int j = 0; j < squares.Length; j++)
            {
                double d = sample[j] - mean[j];
                squares[j] += d * d;
            }
        }
        for (int j = 0; j < squares.Length; j++)
            squares[j] = System.Math.Sqrt(squares[j] / data.Count);
        return squares;
    }
}
