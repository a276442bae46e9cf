using System.Collections.Concurrent;
using DistributedNN.Training;

namespace DistributedNN.Data;

/// <summary>
/// Data sets loaded in this process, by request, with their fingerprints: in-process workers share the
/// coordinator's copy instead of loading it again.
/// </summary>
public static class DataCache
{
    /// <param name="Train">what the run trains on: the training set after --train-limit, less the validation samples</param>
    /// <param name="Validation">the samples held out of it (null: no validation split)</param>
    public sealed record Entry(TrainTestData Data, Dataset Train, string Fingerprint, Dataset? Validation = null);

    private static readonly ConcurrentDictionary<string, Lazy<Entry>> Loaded = new();

    public static Entry Load(DataRequest request, string? pathOverride = null)
    {
        string? path = pathOverride ?? request.Path;
        string key = $"{path}|{request.TestFraction:R}|{request.LabelColumn}|{request.TrainLimit}|{request.ImageSize}|{request.ValidationFraction:R}";
        var lazy = Loaded.GetOrAdd(key, _ => new Lazy<Entry>(() =>
        {
            var data = DataSource.Load(path, new DataSourceOptions
            {
                TestFraction = request.TestFraction,
                Csv = new CsvOptions { LabelColumn = LabelColumn.Parse(request.LabelColumn) },
                ImageSize = request.ImageSize,
            });
            var train = request.TrainLimit is int n ? data.Train.Take(n) : data.Train;
            Dataset? validation = null;
            if (request.ValidationFraction > 0) (train, validation) = DatasetSplitter.HoldOut(train, request.ValidationFraction);
            return new Entry(data, train, ShardComputer.Fingerprint(train, data.Test), validation);
        }));
        try { return lazy.Value; }
        catch
        {
            Loaded.TryRemove(key, out _); // a failed load is not cached: the file may be fixed
            throw;
        }
    }
}
