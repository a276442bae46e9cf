namespace DistributedNN.Data;

/// <summary>
/// Finds and loads the training and test data.
/// </summary>
/// <remarks>
/// <para>The location is the first of: the <c>--data</c> argument, the <c>DNN_DATA</c> environment
/// variable, and <see cref="DefaultDirectory"/> (where the <c>dataset-fashion-mnist</c> Debian
/// package installs Fashion-MNIST). A location that is set but does not exist is an error; the
/// search does not fall through to the next one, as that would train on data the user did not ask for.</para>
/// <para>A location may be:</para>
/// <list type="bullet">
/// <item>a directory holding the four MNIST-style IDX files <c>train-images-idx3-ubyte</c>,
/// <c>train-labels-idx1-ubyte</c>, <c>t10k-images-idx3-ubyte</c> and <c>t10k-labels-idx1-ubyte</c>,
/// each raw or with a <c>.gz</c> suffix (the raw file is used if both exist). Pixels are scaled to
/// [0, 1];</item>
/// <item>a CSV file (see <see cref="CsvReader"/>), split into training and test rows by
/// <see cref="DataSourceOptions.TestFraction"/> and <see cref="DataSourceOptions.SplitSeed"/>;</item>
/// <item>two CSV files separated by a comma, <c>TRAIN.csv,TEST.csv</c> (no spaces needed; a path
/// that itself exists is always taken literally, even if it contains a comma).</item>
/// </list>
/// <para>CSV features are standardised with statistics of the training rows only (<see cref="Normalizer"/>).
/// Both sets get the same <see cref="Dataset.ClassCount"/>: the largest label in either, + 1.</para>
/// </remarks>
public static class DataSource
{
    /// <summary>Where the <c>dataset-fashion-mnist</c> Debian package installs the data set.</summary>
    public const string DefaultDirectory = "/usr/share/datasets/fashion-mnist";

    /// <summary>The environment variable consulted when <c>--data</c> is not given.</summary>
    public const string EnvironmentVariable = "DNN_DATA";

    public const double DefaultTestFraction = 0.2;

    public const int DefaultSplitSeed = 1;

    public const string TrainImagesFile = "train-images-idx3-ubyte";
    public const string TrainLabelsFile = "train-labels-idx1-ubyte";
    public const string TestImagesFile = "t10k-images-idx3-ubyte";
    public const string TestLabelsFile = "t10k-labels-idx1-ubyte";

    private static readonly string[] IdxFiles = [TrainImagesFile, TrainLabelsFile, TestImagesFile, TestLabelsFile];

    /// <summary>Resolves the location (see the class remarks) and loads it.</summary>
    /// <param name="dataArgument">The <c>--data</c> value, or <c>null</c> if it was not given.</param>
    /// <exception cref="UserErrorException">Nothing was found, or a file is missing or malformed (<see cref="DataFormatException"/>).</exception>
    public static TrainTestData Load(string? dataArgument, DataSourceOptions? options = null)
    {
        options ??= new DataSourceOptions();
        return LoadFrom(Resolve(dataArgument, options), options);
    }

    /// <summary>Picks the location to load without reading it, e.g. to log where the data comes from.</summary>
    /// <exception cref="UserErrorException">No location is set and the default directory does not exist.</exception>
    public static DataLocation Resolve(string? dataArgument, DataSourceOptions? options = null)
    {
        options ??= new DataSourceOptions();
        if (dataArgument is not null)
        {
            if (string.IsNullOrWhiteSpace(dataArgument))
                throw new UserErrorException("--data is empty; pass a directory of IDX files, a CSV file, or TRAIN.csv,TEST.csv");
            return new DataLocation(dataArgument, DataOrigin.DataArgument);
        }
        // An empty variable counts as unset, as shells make "DNN_DATA= dnn train" an easy way to clear it.
        var fromEnvironment = options.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrWhiteSpace(fromEnvironment))
            return new DataLocation(fromEnvironment, DataOrigin.EnvironmentVariable);
        if (Directory.Exists(options.DefaultDirectory))
            return new DataLocation(options.DefaultDirectory, DataOrigin.DefaultDirectory);
        throw new UserErrorException(
            $"no data set found: --data not given, {EnvironmentVariable} not set, and {options.DefaultDirectory} does not exist " +
            "(install it with: sudo apt-get install dataset-fashion-mnist, or pass --data DIR)");
    }

    /// <summary>Loads an already resolved location.</summary>
    public static TrainTestData LoadFrom(DataLocation location, DataSourceOptions? options = null)
    {
        options ??= new DataSourceOptions();
        var path = location.Path;
        if (Directory.Exists(path))
            return ImageFolder.Is(path) ? ImageFolder.Load(path, options.ImageSize) : LoadIdxDirectory(path);
        if (File.Exists(path))
        {
            RejectNonCsvFile(location);
            return LoadCsv(path, options.TestFraction, options.SplitSeed, options.Csv, options.Standardise);
        }
        if (TrySplitPair(location, out var trainPath, out var testPath))
            return LoadCsvPair(trainPath, testPath, options.Csv, options.Standardise);
        throw new UserErrorException($"{location.Describe()}: no such file or directory");
    }

    /// <summary>Loads the four IDX files of an MNIST-style directory (see the class remarks).</summary>
    public static TrainTestData LoadIdxDirectory(string directory)
    {
        var found = IdxFilesIn(directory);
        string setName = Path.GetFileName(Path.TrimEndingDirectorySeparator(directory));
        var train = IdxReader.LoadPair(found[0], found[1], $"{setName} train");
        var test = IdxReader.LoadPair(found[2], found[3], $"{setName} test");
        if (train.FeatureCount != test.FeatureCount)
            throw new DataFormatException($"training images in {found[0]} have {train.FeatureCount} pixels but test images in {found[2]} have {test.FeatureCount}");
        return WithCommonClassCount(train, test, directory, InputTransform.Pixels);
    }

    /// <summary>Loads one CSV file, splits it into training and test rows, and standardises both with the training statistics (unless told not to).</summary>
    public static TrainTestData LoadCsv(string path, double testFraction, int seed, CsvOptions? csv = null, bool standardise = true)
    {
        var all = CsvReader.Read(path, csv);
        var (train, test) = DatasetSplitter.Split(all, testFraction, seed);
        return Standardise(train, test, path, standardise);
    }

    /// <summary>Loads separate training and test CSV files and standardises both with the training statistics (unless told not to).</summary>
    public static TrainTestData LoadCsvPair(string trainPath, string testPath, CsvOptions? csv = null, bool standardise = true)
    {
        var train = Rename(CsvReader.Read(trainPath, csv), " train");
        var test = Rename(CsvReader.Read(testPath, csv), " test");
        if (train.FeatureCount != test.FeatureCount)
            throw new DataFormatException($"training file {trainPath} has {train.FeatureCount} feature columns but test file {testPath} has {test.FeatureCount}");
        return Standardise(train, test, $"{trainPath},{testPath}", standardise);
    }

    /// <summary>The four IDX files of a directory, in the order train images, train labels, test images, test labels.</summary>
    /// <exception cref="DataFormatException">One is missing.</exception>
    internal static string[] IdxFilesIn(string directory)
    {
        var found = IdxFiles.Select(name => FindIdxFile(directory, name)).ToArray();
        var missing = IdxFiles.Where((_, i) => found[i] is null).Select(name => $"{name}[.gz]").ToArray();
        if (missing.Length > 0)
            throw new DataFormatException(
                $"data directory {directory} has no {string.Join(", no ", missing)} " +
                $"(it needs {string.Join(", ", IdxFiles)}, each raw or gzip-compressed with a .gz suffix)");
        return found!;
    }

    /// <summary>Whether a path names two CSV files, <c>TRAIN.csv,TEST.csv</c> (see <see cref="LoadFrom"/>), and which.</summary>
    internal static bool IsPair(DataLocation location, out string trainPath, out string testPath) => TrySplitPair(location, out trainPath, out testPath);

    private static string? FindIdxFile(string directory, string name)
    {
        var raw = Path.Combine(directory, name);
        if (File.Exists(raw))
            return raw;
        var compressed = raw + ".gz";
        return File.Exists(compressed) ? compressed : null;
    }

    // Without this, pointing --data at one IDX file would fail with a baffling "not a number" on line 1.
    private static void RejectNonCsvFile(DataLocation location)
    {
        bool idxOrGzip, gzip;
        try
        {
            idxOrGzip = IdxReader.LooksLikeIdxOrGzip(location.Path, out gzip);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return; // the CSV reader will report the problem in its own words
        }
        if (!idxOrGzip)
            return;
        throw new UserErrorException(gzip
            ? $"{location.Describe()}: the file is gzip-compressed; pass a plain CSV file or the directory that holds the four IDX files"
            : $"{location.Describe()}: the file is a single IDX file; pass the directory that holds the four IDX files instead");
    }

    private static bool TrySplitPair(DataLocation location, out string trainPath, out string testPath)
    {
        trainPath = testPath = "";
        var parts = location.Path.Split(',', StringSplitOptions.TrimEntries);
        if (parts.Length != 2)
            return false;
        if (parts[0].Length == 0 || parts[1].Length == 0)
            throw new UserErrorException($"{location.Describe()}: expected TRAIN.csv,TEST.csv");
        foreach (var (role, part) in new[] { ("training", parts[0]), ("test", parts[1]) })
        {
            if (!File.Exists(part))
                throw new UserErrorException($"{location.Describe()}: {role} file {part} does not exist");
        }
        (trainPath, testPath) = (parts[0], parts[1]);
        return true;
    }

    private static TrainTestData Standardise(Dataset train, Dataset test, string source, bool standardise)
    {
        if (!standardise) return WithCommonClassCount(train, test, source, InputTransform.Identity);
        var normalizer = Normalizer.Fit(train);
        return WithCommonClassCount(normalizer.Apply(train), normalizer.Apply(test), source, InputTransform.Standardising(normalizer));
    }

    // A model has one output per class, so both sets must agree even if the test set lacks the top class.
    private static TrainTestData WithCommonClassCount(Dataset train, Dataset test, string source, InputTransform input)
    {
        int classCount = System.Math.Max(train.ClassCount, test.ClassCount);
        return new TrainTestData(WithClassCount(train, classCount), WithClassCount(test, classCount), source, input);
    }

    private static Dataset WithClassCount(Dataset data, int classCount) => data.ClassCount == classCount ? data : data.With(classCount: classCount);

    private static Dataset Rename(Dataset data, string suffix) => data.With(name: data.Name + suffix);
}
