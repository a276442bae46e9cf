using System.Globalization;
using System.Text.Json;

namespace DistributedNN.Planning;

/// <summary>
/// Reads measured runs (docs/BENCHMARKS.md, "Cost model"): a TSV file whose first line names the columns, or JSON lines
/// (one object per line, the same names as keys; what <c>bench/emulated-cluster.sh --results FILE</c> appends). Lines
/// starting with # and empty lines are skipped; unknown columns are ignored. Columns: hosts, samples_per_s (required);
/// topology (star|sharded; else the --topology in train_args; else star), cpu_quota (cores per host, default 1; "none": 1),
/// link_gbit or rate (tc units: 2gbit, 500mbit; "none": the command's), delay_ms, parameters, flops_per_sample, batch,
/// shards, bytes_per_step (busiest link) — optional.
/// </summary>
public static class MeasuredRunFile
{
    private static readonly Dictionary<string, string> Aliases = new(StringComparer.OrdinalIgnoreCase)
    {
        ["worker_hosts"] = "hosts", ["samples_per_second"] = "samples_per_s", ["cpu"] = "cpu_quota",
        ["cpu_per_host"] = "cpu_quota", ["link_gbps"] = "link_gbit", ["busiest_link_bytes"] = "bytes_per_step",
        ["busiest_bytes_per_step"] = "bytes_per_step",
    };

    public static IReadOnlyList<MeasuredRun> Read(string path)
    {
        string[] lines;
        try { lines = File.ReadAllLines(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UserErrorException($"--calibrate {path}: cannot read it ({e.Message})");
        }
        var rows = new List<MeasuredRun>();
        string[]? header = null;
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i].Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            Dictionary<string, string> fields;
            if (line.StartsWith('{')) fields = JsonFields(line, path, i + 1);
            else if (header is null) { header = line.Split('\t', StringSplitOptions.TrimEntries).Select(Canonical).ToArray(); continue; }
            else fields = TsvFields(header, line, path, i + 1);
            rows.Add(Row(fields, path, i + 1));
        }
        if (rows.Count == 0) throw new UserErrorException($"--calibrate {path}: no measured runs in it (a header line, then one run per line)");
        return rows;
    }

    private static string Canonical(string name) => Aliases.TryGetValue(name, out var c) ? c : name.ToLowerInvariant();

    private static Dictionary<string, string> TsvFields(string[] header, string line, string path, int number)
    {
        var values = line.Split('\t', StringSplitOptions.TrimEntries);
        if (values.Length != header.Length)
            throw new UserErrorException($"--calibrate {path} line {number}: {values.Length} tab-separated values but the header names {header.Length}");
        return header.Zip(values).ToDictionary(p => p.First, p => p.Second);
    }

    private static Dictionary<string, string> JsonFields(string line, string path, int number)
    {
        try
        {
            using var doc = JsonDocument.Parse(line);
            return doc.RootElement.EnumerateObject().ToDictionary(p => Canonical(p.Name),
                p => p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : p.Value.GetRawText());
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or ArgumentException)
        {
            throw new UserErrorException($"--calibrate {path} line {number}: not a JSON object with one value per name ({e.Message.Split('\n')[0]})");
        }
    }

    private static MeasuredRun Row(Dictionary<string, string> f, string path, int line)
    {
        string Where(string name) => $"--calibrate {path} line {line}: {name}";
        string Required(string name) => f.TryGetValue(name, out var v) && v.Length > 0 ? v : throw new UserErrorException($"{Where(name)} is missing");
        string? Optional(string name) => f.TryGetValue(name, out var v) && v.Length > 0 && v != "null" ? v : null;
        double Positive(string name, string text) =>
            double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) && d > 0 && double.IsFinite(d)
                ? d : throw new UserErrorException($"{Where(name)} is '{text}', not a positive number");
        int Whole(string name, string text) =>
            int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n >= 1
                ? n : throw new UserErrorException($"{Where(name)} is '{text}', not a whole number of at least 1");

        string topology = Optional("topology") ?? TopologyArgument(Optional("train_args")) ?? "star";
        var kind = TopologyNames.TryParse(topology, out var t) ? t : throw new UserErrorException($"{Where("topology")} is '{topology}', not star or sharded");
        string? quota = Optional("cpu_quota"), rate = Optional("rate");
        double? gbit = Optional("link_gbit") is { } g ? Positive("link_gbit", g)
            : rate is null || rate == "none" ? null : TcRate(rate) ?? throw new UserErrorException($"{Where("rate")} is '{rate}', not a rate like 2gbit or 500mbit");
        return new MeasuredRun(line, Whole("hosts", Required("hosts")), kind, Positive("samples_per_s", Required("samples_per_s")),
            quota is null || quota == "none" ? 1 : Positive("cpu_quota", quota), gbit,
            Optional("parameters") is { } p ? Whole("parameters", p) : null,
            Optional("flops_per_sample") is { } fl ? Positive("flops_per_sample", fl) : null,
            Optional("batch") is { } b ? Whole("batch", b) : null,
            Optional("shards") is { } s ? Whole("shards", s) : null,
            Optional("bytes_per_step") is { } by ? Positive("bytes_per_step", by) : null,
            Optional("delay_ms") is { } d && d != "0" ? Positive("delay_ms", d) : null);
    }

    /// <summary>The value of <c>--topology</c> in a run's `dnn train` arguments, if they have one.</summary>
    private static string? TopologyArgument(string? arguments)
    {
        var words = arguments?.Split(' ', StringSplitOptions.RemoveEmptyEntries) ?? [];
        int at = Array.IndexOf(words, "--topology");
        return at >= 0 && at + 1 < words.Length ? words[at + 1] : words.FirstOrDefault(w => w.StartsWith("--topology="))?["--topology=".Length..];
    }

    /// <summary>A tc rate (10gbit, 500mbit, 64kbit, 1000000bit) in Gbit/s.</summary>
    private static double? TcRate(string rate)
    {
        foreach (var (unit, scale) in new[] { ("gbit", 1.0), ("mbit", 1e-3), ("kbit", 1e-6), ("bit", 1e-9) })
            if (rate.EndsWith(unit, StringComparison.OrdinalIgnoreCase)
                && double.TryParse(rate[..^unit.Length], NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && v > 0 && double.IsFinite(v))
                return v * scale;
        return null;
    }
}
