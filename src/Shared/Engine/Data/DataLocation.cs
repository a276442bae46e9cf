namespace DistributedNN.Data;

/// <summary>Where a data location came from; used to say which setting to fix in error messages.</summary>
public enum DataOrigin
{
    /// <summary>The <c>--data</c> command-line argument.</summary>
    DataArgument,

    /// <summary>The <c>DNN_DATA</c> environment variable.</summary>
    EnvironmentVariable,

    /// <summary>The Debian package's install location, <see cref="DataSource.DefaultDirectory"/>.</summary>
    DefaultDirectory,
}

/// <summary>A resolved data location: a directory, a CSV file, or <c>TRAIN.csv,TEST.csv</c>.</summary>
public sealed record DataLocation(string Path, DataOrigin Origin)
{
    /// <summary>The location as the user set it, e.g. <c>--data x.csv</c> or <c>DNN_DATA=/srv/mnist</c>.</summary>
    public string Describe() => Origin switch
    {
        DataOrigin.DataArgument => $"--data {Path}",
        DataOrigin.EnvironmentVariable => $"{DataSource.EnvironmentVariable}={Path}",
        _ => Path,
    };
}
