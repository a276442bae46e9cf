namespace DistributedNN.Data;

/// <summary>
/// What data a worker may load for a job. A job names its data by the coordinator's path (<see cref="DataRequest.Path"/>);
/// a worker must not open whatever path a coordinator names — /etc/shadow read as a CSV file — so it loads:
/// <list type="bullet">
/// <item>its own <c>--data</c>, when it has one, whatever the job names (another mount point of the same data);</item>
/// <item>otherwise the job's path only when it lies in the worker's own data root: where <c>dnn train</c> would look
/// without <c>--data</c> (<c>DNN_DATA</c>, then <see cref="DataSource.DefaultDirectory"/>), the root itself or inside it
/// (each file of a TRAIN.csv,TEST.csv pair); a job that names no path loads the root.</item>
/// </list>
/// Paths are compared after <see cref="Path.GetFullPath(string)"/> (so "..", "." and relative paths cannot leave the root).
/// </summary>
public static class DataRoot
{
    /// <summary>The path to load for a job asking for <paramref name="requested"/> (null: the worker's default).</summary>
    /// <param name="workerData">the worker's <c>--data</c>, or null</param>
    /// <exception cref="UserErrorException">The job names data outside the worker's root.</exception>
    public static string? PathFor(string? requested, string? workerData, DataSourceOptions? options = null)
    {
        if (workerData is not null || requested is null) return workerData;
        DataLocation root;
        try { root = DataSource.Resolve(null, options); }
        catch (UserErrorException)
        {
            throw Outside(requested, "this worker has no data root");
        }
        return Within(requested, root.Path) ? requested : throw Outside(requested, "it is outside this worker's data root");
    }

    /// <summary>True when <paramref name="path"/> is <paramref name="root"/> or inside it, or a pair of files each so.</summary>
    public static bool Within(string path, string root)
    {
        if (string.IsNullOrWhiteSpace(path) || path.Contains('\0') || string.IsNullOrWhiteSpace(root)) return false;
        // a path with a comma may be loaded as TRAIN.csv,TEST.csv: then each part must be inside too
        return Inside(path, root) && path.Split(',', StringSplitOptions.TrimEntries).All(part => part.Length == 0 || Inside(part, root))
            || path.Split(',', StringSplitOptions.TrimEntries) is [{ Length: > 0 } train, { Length: > 0 } test] && Inside(train, root) && Inside(test, root);
    }

    private static bool Inside(string path, string root)
    {
        string full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(path));
        string top = Path.TrimEndingDirectorySeparator(Path.GetFullPath(root));
        return full == top || full.StartsWith(top + Path.DirectorySeparatorChar, StringComparison.Ordinal);
    }

    // the reason goes back to the coordinator: it names the job's own path and the rule, not this worker's root
    private static UserErrorException Outside(string requested, string why) => new(
        $"the job's data {requested} is not loaded: {why} ({DataSource.EnvironmentVariable}, else {DataSource.DefaultDirectory}); " +
        "start the worker with --data to give it other data");
}
