using System.Globalization;
using Akka.Event;

namespace DistributedNN.Coordinator;

/// <summary>
/// The coordinator's view of each worker's compute (the time each shard took on the worker, as reported with its
/// result): per epoch, shards and milliseconds per shard; a worker whose mean is more than <see cref="SlowFactor"/>×
/// the median of the others', and at least <see cref="SlowMarginMs"/> above it, is named slow (tiny shards differ by
/// fractions of a millisecond for reasons that say nothing about the node). An allreduce trainer sees only that a step was late; this names the node.
/// </summary>
public sealed class WorkerStatsTracker
{
    public const double SlowFactor = 1.5;
    public const double SlowMarginMs = 1.0;

    private readonly Dictionary<string, (int Shards, double TotalMs, double MaxMs)> _epoch = new(StringComparer.Ordinal);
    private readonly List<WorkerEpochStats> _all = [];

    /// <summary>Every epoch's figures so far, epoch by epoch, workers by name.</summary>
    public IReadOnlyList<WorkerEpochStats> All => _all;

    public void Add(string worker, double computeMs)
    {
        var (shards, total, max) = _epoch.GetValueOrDefault(worker);
        _epoch[worker] = (shards + 1, total + computeMs, System.Math.Max(max, computeMs));
    }

    /// <summary>Closes the epoch: its per-worker figures, with the slow workers marked.</summary>
    public IReadOnlyList<WorkerEpochStats> EndEpoch(int epoch)
    {
        var means = _epoch.ToDictionary(w => w.Key, w => w.Value.TotalMs / w.Value.Shards, StringComparer.Ordinal);
        var result = _epoch.OrderBy(w => w.Key, StringComparer.Ordinal).Select(w =>
        {
            var others = means.Where(m => m.Key != w.Key).Select(m => m.Value).ToList();
            double median = others.Count > 0 ? Median(others) : double.NaN;
            bool slow = others.Count > 0 && means[w.Key] > SlowFactor * median && means[w.Key] - median >= SlowMarginMs;
            return new WorkerEpochStats(epoch, w.Key, w.Value.Shards, means[w.Key], w.Value.MaxMs, slow);
        }).ToList();
        _all.AddRange(result);
        _epoch.Clear();
        return result;
    }

    /// <summary>Logs an epoch's figures: each worker's shards and time per shard, and a warning for a slow one.</summary>
    public static void Log(Akka.Event.ILoggingAdapter log, IEnumerable<WorkerEpochStats> workers)
    {
        foreach (var w in workers)
        {
            log.Info("Epoch {Epoch}: worker {Worker} computed {Shards} shards, {Ms:F2} ms per shard (max {Max:F2})", w.Epoch, w.Worker, w.Shards, w.MeanMs, w.MaxMs);
            if (w.Slow)
                log.Warning("Worker {Worker} is slow: {Ms:F2} ms per shard in epoch {Epoch}, over {Factor}× the other workers' median; the step waits for it (check that machine's load)",
                    w.Worker, w.MeanMs, w.Epoch, SlowFactor);
        }
    }

    public static double Median(List<double> values)
    {
        values.Sort();
        int n = values.Count;
        return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
    }

    /// <summary>workers.csv: epoch, worker, shards, mean and max compute milliseconds per shard, slow (0/1).</summary>
    public static string Csv(IEnumerable<WorkerEpochStats> stats)
    {
        var inv = CultureInfo.InvariantCulture;
        var csv = new System.Text.StringBuilder("epoch,worker,shards,compute_ms_per_shard,compute_ms_max,slow\n");
        foreach (var s in stats) csv.Append(inv, $"{s.Epoch},{s.Worker},{s.Shards},{s.MeanMs:R},{s.MaxMs:R},{(s.Slow ? 1 : 0)}\n");
        return csv.ToString();
    }
}
