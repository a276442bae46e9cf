using DistributedNN.Data;

namespace DistributedNN.Tests.Data;

public sealed class DataSourceTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>Options that see no DNN_DATA and a default directory that does not exist, unless overridden.</summary>
    private DataSourceOptions Isolated(string? environmentValue = null, string? defaultDirectory = null) => new()
    {
        GetEnvironmentVariable = name => name == DataSource.EnvironmentVariable ? environmentValue : null,
        DefaultDirectory = defaultDirectory ?? _dir.File("no-default-here"),
    };

    /// <summary>Writes a tiny MNIST-style directory: 3 training and 2 test images of 2×2.</summary>
    private string WriteIdxDirectory(string name, bool gzip, params string[] skip)
    {
        var directory = Directory.CreateDirectory(_dir.File(name)).FullName;
        var files = new Dictionary<string, byte[]>
        {
            [DataSource.TrainImagesFile] = Idx.Images(3, 2, 2, Idx.CountingPixels(12)),
            [DataSource.TrainLabelsFile] = Idx.Labels(0, 1, 2),
            [DataSource.TestImagesFile] = Idx.Images(2, 2, 2, [255, 0, 128, 1, 2, 3, 4, 5]),
            [DataSource.TestLabelsFile] = Idx.Labels(3, 0),
        };
        foreach (var (file, content) in files)
        {
            if (skip.Contains(file))
                continue;
            var path = Path.Combine(directory, gzip ? file + ".gz" : file);
            File.WriteAllBytes(path, gzip ? Idx.Gzip(content) : content);
        }
        return directory;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_directory_of_idx_files_loads_train_and_test_sets(bool gzip)
    {
        var directory = WriteIdxDirectory("mnist", gzip);

        var data = DataSource.Load(directory, Isolated());

        Assert.Equal(directory, data.Source);
        Assert.Equal(3, data.Train.Count);
        Assert.Equal(2, data.Test.Count);
        Assert.Equal(4, data.Train.FeatureCount);
        Assert.Equal([1f, 0f, 128 / 255f, 1 / 255f], data.Test.Sample(0).ToArray());
        Assert.Equal("mnist train", data.Train.Name);
        Assert.Equal("mnist test", data.Test.Name);
        // The test set's label 3 exceeds every training label; both sets must still agree.
        Assert.Equal(4, data.Train.ClassCount);
        Assert.Equal(4, data.Test.ClassCount);
    }

    [Fact]
    public void A_directory_may_mix_raw_and_gzip_files()
    {
        var directory = WriteIdxDirectory("mixed", gzip: true, DataSource.TestLabelsFile);
        File.WriteAllBytes(Path.Combine(directory, DataSource.TestLabelsFile), Idx.Labels(3, 0));

        var data = DataSource.Load(directory, Isolated());

        Assert.Equal([3, 0], data.Test.Labels);
    }

    [Fact]
    public void A_directory_missing_an_idx_file_names_it()
    {
        var directory = WriteIdxDirectory("partial", gzip: false, DataSource.TestImagesFile);

        var error = Assert.Throws<DataFormatException>(() => DataSource.Load(directory, Isolated()));

        Assert.Equal(
            $"data directory {directory} has no t10k-images-idx3-ubyte[.gz] " +
            "(it needs train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, each raw or gzip-compressed with a .gz suffix)",
            error.Message);
    }

    [Fact]
    public void A_corrupt_file_in_the_directory_is_named()
    {
        var directory = WriteIdxDirectory("broken", gzip: false);
        var labels = Path.Combine(directory, DataSource.TrainLabelsFile);
        File.WriteAllBytes(labels, Idx.Labels(1, 2, 3, 4));

        var error = Assert.Throws<DataFormatException>(() => DataSource.Load(directory, Isolated()));

        Assert.Equal($"images file {Path.Combine(directory, DataSource.TrainImagesFile)} holds 3 images but labels file {labels} holds 4 labels", error.Message);
    }

    [Fact]
    public void Nothing_found_says_what_was_tried_and_how_to_fix_it()
    {
        var options = Isolated();

        var error = Assert.Throws<UserErrorException>(() => DataSource.Load(null, options));

        Assert.Equal(
            $"no data set found: --data not given, DNN_DATA not set, and {options.DefaultDirectory} does not exist " +
            "(install it with: sudo apt-get install dataset-fashion-mnist, or pass --data DIR)",
            error.Message);
    }

    [Fact]
    public void The_environment_variable_is_used_when_data_is_not_given()
    {
        var directory = WriteIdxDirectory("from-env", gzip: false);

        var location = DataSource.Resolve(null, Isolated(environmentValue: directory));

        Assert.Equal(new DataLocation(directory, DataOrigin.EnvironmentVariable), location);
        Assert.Equal(3, DataSource.LoadFrom(location).Train.Count);
    }

    [Fact]
    public void The_data_argument_wins_over_the_environment_variable_and_the_default()
    {
        var options = Isolated(environmentValue: "/env/path", defaultDirectory: _dir.Path);

        Assert.Equal(new DataLocation("/arg/path", DataOrigin.DataArgument), DataSource.Resolve("/arg/path", options));
    }

    [Fact]
    public void The_default_directory_is_used_when_nothing_else_is_set()
    {
        var directory = WriteIdxDirectory("default", gzip: true);

        var data = DataSource.Load(null, Isolated(environmentValue: "", defaultDirectory: directory));

        Assert.Equal(directory, data.Source);
    }

    [Fact]
    public void A_data_argument_that_does_not_exist_is_an_error_not_a_fallback()
    {
        var missing = _dir.File("nowhere");
        var options = Isolated(defaultDirectory: WriteIdxDirectory("default", gzip: false));

        var error = Assert.Throws<UserErrorException>(() => DataSource.Load(missing, options));

        Assert.Equal($"--data {missing}: no such file or directory", error.Message);
    }

    [Fact]
    public void An_environment_path_that_does_not_exist_names_the_variable()
    {
        var missing = _dir.File("nowhere");

        var error = Assert.Throws<UserErrorException>(() => DataSource.Load(null, Isolated(environmentValue: missing)));

        Assert.Equal($"DNN_DATA={missing}: no such file or directory", error.Message);
    }

    [Fact]
    public void A_single_idx_file_as_data_suggests_passing_its_directory()
    {
        var directory = WriteIdxDirectory("one", gzip: false);
        var file = Path.Combine(directory, DataSource.TrainImagesFile);

        var error = Assert.Throws<UserErrorException>(() => DataSource.Load(file, Isolated()));

        Assert.Equal($"--data {file}: the file is a single IDX file; pass the directory that holds the four IDX files instead", error.Message);
    }

    private string WriteCsv(string name, int rows, Func<int, string> row)
    {
        var lines = new List<string> { "a,b,label" };
        lines.AddRange(Enumerable.Range(0, rows).Select(row));
        return _dir.WriteText(name, string.Join('\n', lines) + "\n");
    }

    [Fact]
    public void A_csv_file_is_split_deterministically_and_partitions_all_rows()
    {
        // Column b is the row number, and standardisation maps it monotonically, so every row stays recognisable.
        var path = WriteCsv("data.csv", 40, i => $"{i % 5},{i},{i % 2}");
        var options = Isolated() with { TestFraction = 0.25, SplitSeed = 9 };

        var first = DataSource.Load(path, options);
        var second = DataSource.Load(path, options);

        Assert.Equal(30, first.Train.Count);
        Assert.Equal(10, first.Test.Count);
        Assert.Equal(first.Train.Features, second.Train.Features);
        Assert.Equal(first.Test.Features, second.Test.Features);
        Assert.Equal(first.Test.Labels, second.Test.Labels);
        var columnB = ColumnB(first.Train).Concat(ColumnB(first.Test)).Order().ToArray();
        Assert.Equal(40, columnB.Distinct().Count());
        var steps = columnB.Zip(columnB.Skip(1), (a, b) => b - a).ToArray();
        Assert.All(steps, step => Assert.Equal(steps[0], step, 4)); // exactly the rows 0..39, evenly spaced
    }

    [Fact]
    public void A_csv_split_is_standardised_with_the_statistics_of_its_training_rows()
    {
        var path = WriteCsv("data.csv", 30, i => $"{i * i % 17},{i * 0.5},{i % 3}");
        var options = Isolated() with { TestFraction = 0.3, SplitSeed = 4 };

        var data = DataSource.Load(path, options);

        var (rawTrain, rawTest) = DatasetSplitter.Split(CsvReader.Read(path), 0.3, 4);
        var trainOnly = Normalizer.Fit(rawTrain);
        Assert.Equal(trainOnly.Apply(rawTest).Features, data.Test.Features);
        Assert.Equal(trainOnly.Apply(rawTrain).Features, data.Train.Features);
        Assert.Equal(rawTest.Labels, data.Test.Labels);
        Assert.Equal(path, data.Source);
    }

    private static IEnumerable<float> ColumnB(Dataset part) => Enumerable.Range(0, part.Count).Select(i => part.Sample(i)[1]);

    [Fact]
    public void A_csv_pair_is_standardised_with_training_statistics_only()
    {
        var train = _dir.WriteText("train.csv", "x,label\n1,0\n3,1\n5,0\n");
        var test = _dir.WriteText("test.csv", "x,label\n7,2\n-1,0\n");

        var data = DataSource.Load($"{train},{test}", Isolated());

        double mean = 3, std = System.Math.Sqrt(8.0 / 3);
        Assert.Equal($"{train},{test}", data.Source);
        Assert.Equal((float)((7 - mean) / std), data.Test.Features[0], 5);
        Assert.Equal((float)((-1 - mean) / std), data.Test.Features[1], 5);
        Assert.Equal((float)((1 - mean) / std), data.Train.Features[0], 5);
        Assert.Equal([2, 0], data.Test.Labels);
        Assert.Equal(3, data.Train.ClassCount);
        Assert.Equal(3, data.Test.ClassCount);
    }

    [Fact]
    public void A_csv_pair_with_a_missing_part_names_it()
    {
        var train = _dir.WriteText("train.csv", "1,0\n");
        var test = _dir.File("test.csv");

        var error = Assert.Throws<UserErrorException>(() => DataSource.Load($"{train},{test}", Isolated()));

        Assert.Equal($"--data {train},{test}: test file {test} does not exist", error.Message);
    }

    [Fact]
    public void A_csv_pair_with_different_widths_is_rejected()
    {
        var train = _dir.WriteText("train.csv", "1,2,0\n");
        var test = _dir.WriteText("test.csv", "1,0\n");

        var error = Assert.Throws<DataFormatException>(() => DataSource.Load($"{train},{test}", Isolated()));

        Assert.Equal($"training file {train} has 2 feature columns but test file {test} has 1", error.Message);
    }
}
