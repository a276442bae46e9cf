using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using DistributedNN.Training;

namespace DistributedNN.Data;

/// <summary>
/// The data sets a training process uses, by request, with their fingerprints: loaded once per process (in-process
/// workers share the coordinator's), and through a cache file (<see cref="DataCacheFile"/>) in
/// <see cref="CacheDirectories"/> — built by the first process that needs it, then memory-mapped, so that the processes of
/// one host share one copy of the samples in their stored type (a quarter of float32's memory for pixels) and a data
/// set need not fit in memory.
/// </summary>
public static class DataCache
{
    /// <param name="Train">what the run trains on: the training set after --train-limit, less the validation samples</param>
    /// <param name="Validation">the samples held out of it (null: no validation split)</param>
    public sealed record Entry(TrainTestData Data, Dataset Train, string Fingerprint, Dataset? Validation = null);

    /// <summary>The environment variable that places the cache (a directory), or turns it off (<c>off</c>).</summary>
    public const string EnvironmentVariable = "DNN_DATA_CACHE";

    public const string FileExtension = ".dnndata";

    private static readonly ConcurrentDictionary<string, Lazy<Entry>> Loaded = new();

    /// <summary>
    /// Where cache files go, in order of preference: <c>DNN_DATA_CACHE</c> alone when it is set (none when it is
    /// <c>off</c>: the data is held in memory); else <c>$XDG_CACHE_HOME/dnn/data</c> or <c>~/.cache/dnn/data</c>, then
    /// the temporary directory (a read-only home, as in a locked-down container), then memory.
    /// </summary>
    public static IReadOnlyList<string> CacheDirectories()
    {
        var set = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrWhiteSpace(set))
            return set.Trim() is "off" or "0" or "none" ? [] : [set];
        var found = new List<string>();
        var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        if (!string.IsNullOrWhiteSpace(xdg)) found.Add(Path.Combine(xdg, "dnn", "data"));
        else if (!string.IsNullOrEmpty(home)) found.Add(Path.Combine(home, ".cache", "dnn", "data"));
        found.Add(Temporary);
        return found;
    }

    // the fallback in the temporary directory: made (and checked) only when a run comes to it
    private static string Temporary => Path.Combine(Path.GetTempPath(), TemporaryName);
    private static string TemporaryName => $"dnn-data-{Platform.UnixFiles.EffectiveUserId}";

    // The temporary directory is everyone's: a folder there is used only if it is ours alone (made 700, not a link),
    // as another user's folder could hold a cache file of their making.
    internal static string? PrivateTemporary(string parent)
    {
        string directory = Path.Combine(parent, TemporaryName);
        try
        {
            if (!Platform.UnixFiles.HasOwnerChecks) return System.IO.Directory.CreateDirectory(directory).FullName;
            System.IO.Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            return Platform.UnixFiles.Status(directory) is { IsSymbolicLink: false, IsRegularFile: false } s
                && s.Owner == Platform.UnixFiles.EffectiveUserId && !s.OpenToOthers ? directory : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }

    public static Entry Load(DataRequest request, string? pathOverride = null)
    {
        string? path = pathOverride ?? request.Path;
        var caches = CacheDirectories();
        string key = $"{path}|{request.TestFraction:R}|{request.LabelColumn}|{request.TrainLimit}|{request.ImageSize}|{request.ValidationFraction:R}|{string.Join('|', caches)}";
        var lazy = Loaded.GetOrAdd(key, _ => new Lazy<Entry>(() =>
        {
            var options = new DataSourceOptions
            {
                TestFraction = request.TestFraction,
                Csv = new CsvOptions { LabelColumn = LabelColumn.Parse(request.LabelColumn) },
                ImageSize = request.ImageSize,
            };
            bool named = !string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable(EnvironmentVariable));
            var (data, fingerprint) = FirstThatWorks(caches, named, path, options);
            var train = request.TrainLimit is int n ? data.Train.Take(n) : data.Train;
            Dataset? validation = null;
            if (request.ValidationFraction > 0) (train, validation) = DatasetSplitter.HoldOut(train, request.ValidationFraction);
            // the cache's fingerprint is the whole training set's; a run on part of it names that part
            return new Entry(data, train, ReferenceEquals(train, data.Train) ? fingerprint : ShardComputer.Fingerprint(train, data.Test), validation);
        }));
        try { return lazy.Value; }
        catch
        {
            Loaded.TryRemove(key, out _); // a failed load is not cached: the file may be fixed
            throw;
        }
    }

    /// <summary>The data through the first cache directory that can be written; unless the directory was
    /// <paramref name="named"/> by the user (then its failure is the error), in memory when none can.</summary>
    internal static (TrainTestData Data, string Fingerprint) FirstThatWorks(IReadOnlyList<string> caches, bool named, string? path, DataSourceOptions options)
    {
        if (caches.Count == 0) return Uncached(path, options);
        var location = DataSource.Resolve(path, options);
        for (int i = 0; ; i++)
        {
            try
            {
                if (!named && caches[i] == Temporary && PrivateTemporary(Path.GetTempPath()) is null)
                    throw new UnwritableCacheException($"{caches[i]} is not this user's alone");
                return Cached(caches[i], location, options);
            }
            catch (UnwritableCacheException) when (!named && i + 1 < caches.Count) { }
            catch (UnwritableCacheException) when (!named) { return Uncached(path, options); }
        }
    }

    private sealed class UnwritableCacheException(string message) : UserErrorException(message);

    private static (TrainTestData, string) Uncached(string? path, DataSourceOptions options)
    {
        var data = DataSource.Load(path, options);
        return (data, ShardComputer.Fingerprint(data.Train, data.Test));
    }

    /// <summary>
    /// The data at <paramref name="location"/> from its cache file in <paramref name="directory"/>, building the file
    /// first if there is none for the source as it is now (its files' sizes and times) and these options.
    /// </summary>
    public static (TrainTestData Data, string Fingerprint) Cached(string directory, DataLocation location, DataSourceOptions options)
    {
        var identity = Identify(location, options);
        if (identity is null) return Uncached(location.Path, options); // not a source we can name: the loader says why
        var (source, key) = identity.Value;
        string file = Path.Combine(directory, $"{source}-{Hash(key)[..16]}{FileExtension}");
        if (DataCacheFile.Open(file, key) is { } found) return found;
        Build(directory, file, key, location, options);
        RemoveOlder(directory, source, file);
        return DataCacheFile.Open(file, key) ?? throw new UserErrorException($"the data cache {file} cannot be read back after writing it");
    }

    private static void Build(string directory, string file, string key, DataLocation location, DataSourceOptions options)
    {
        string temporary = $"{file}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        try
        {
            System.IO.Directory.CreateDirectory(directory);
            if (System.IO.Directory.Exists(location.Path) && !ImageFolder.Is(location.Path))
                DataCacheFile.WriteIdx(temporary, key, DataSource.IdxFilesIn(location.Path), location.Path);
            else
            {
                var data = DataSource.LoadFrom(location, options);
                DataCacheFile.Write(temporary, key, data, ShardComputer.Fingerprint(data.Train, data.Test));
            }
            // several processes may build it at once: each renames a whole file over the name, the last one stays
            File.Move(temporary, file, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UnwritableCacheException($"cannot write the data cache in {directory} ({e.Message.Split('\n')[0].TrimEnd('.')}); " +
                $"set {EnvironmentVariable} to a writable directory, or to off to hold the data in memory");
        }
        finally
        {
            if (File.Exists(temporary)) File.Delete(temporary);
        }
    }

    // Caches of the same source built before it changed (other sizes or times) are of no more use.
    private static void RemoveOlder(string directory, string source, string keep)
    {
        foreach (var old in System.IO.Directory.EnumerateFiles(directory, $"{source}-*{FileExtension}"))
        {
            if (old == keep) continue;
            try { File.Delete(old); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
    }

    /// <summary>
    /// What a cache file is for: <c>Source</c> names the location and options (the file's name starts with it); <c>Key</c>
    /// adds the files there, each with its size and modification time. Null for a location that is not there.
    /// </summary>
    internal static (string Source, string Key)? Identify(DataLocation location, DataSourceOptions o)
    {
        string path = Path.GetFullPath(location.Path);
        string kind;
        IEnumerable<string> files;
        if (System.IO.Directory.Exists(path))
        {
            if (ImageFolder.Is(path))
            {
                kind = $"images|{o.ImageSize}";
                files = new[] { "train", "test" }.SelectMany(d => System.IO.Directory.EnumerateFiles(Path.Combine(path, d), "*", SearchOption.AllDirectories))
                    .Order(StringComparer.Ordinal);
            }
            else
            {
                kind = "idx";
                files = DataSource.IdxFilesIn(path);
            }
        }
        else if (File.Exists(location.Path))
        {
            kind = $"csv|{o.TestFraction.ToString("R", CultureInfo.InvariantCulture)}|{o.SplitSeed}|{Csv(o)}";
            files = [path];
        }
        else if (DataSource.IsPair(location, out var train, out var test))
        {
            kind = $"csv-pair|{Csv(o)}";
            files = [Path.GetFullPath(train), Path.GetFullPath(test)];
        }
        else return null;
        var list = files.ToArray();
        string source = Hash($"{kind}|{path}")[..16]; // the location, whatever files it holds now
        var key = new StringBuilder($"{DataCacheFile.Version}|{kind}|{path}");
        foreach (var f in list)
        {
            var info = new FileInfo(f);
            key.Append(CultureInfo.InvariantCulture, $"|{f}|{info.Length}|{info.LastWriteTimeUtc.Ticks}");
        }
        return (source, Hash(key.ToString()));
    }

    private static string Csv(DataSourceOptions o) => $"{o.Csv.LabelColumn}|{o.Csv.Unlabelled}|{o.Csv.HasHeader}|{(int?)o.Csv.Separator}|{o.Standardise}";

    private static string Hash(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
}
