namespace DistributedNN.Data;

/// <summary>Settings for <see cref="DataSource.Load"/>; the defaults suit the command line.</summary>
public sealed record DataSourceOptions
{
    /// <summary>The share of a single CSV file's rows that becomes the test set.</summary>
    public double TestFraction { get; init; } = DataSource.DefaultTestFraction;

    /// <summary>The seed of the train/test split of a single CSV file.</summary>
    public int SplitSeed { get; init; } = DataSource.DefaultSplitSeed;

    public CsvOptions Csv { get; init; } = new();

    /// <summary>Whether CSV features are standardised with the training rows' statistics (training); off where a
    /// model brings its own (<see cref="InputTransform"/>: evaluate, predict).</summary>
    public bool Standardise { get; init; } = true;

    /// <summary>An image folder's size, "W×H" or one number (null: the first training image's).</summary>
    public string? ImageSize { get; init; }

    /// <summary>Looks up an environment variable; replaceable so that tests need not touch the process environment.</summary>
    public Func<string, string?> GetEnvironmentVariable { get; init; } = Environment.GetEnvironmentVariable;

    /// <summary>The directory tried when neither <c>--data</c> nor <c>DNN_DATA</c> is set; replaceable for tests.</summary>
    public string DefaultDirectory { get; init; } = DataSource.DefaultDirectory;
}
