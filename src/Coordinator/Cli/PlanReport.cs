using System.Globalization;
using System.Text;
using DistributedNN.Planning;

namespace DistributedNN.Coordinator.Cli;

/// <summary>What `dnn plan` prints and writes: its inputs, the table of predictions, the CSV, a calibration's runs.</summary>
internal static class PlanReport
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static void Inputs(TextWriter o, PlanRequest r)
    {
        var n = r.Network;
        string flops = n.FlopsPerSample > 0 ? $", {n.FlopsPerSample / 1e6:0.###} MFLOP per sample (forward + backward)" : "";
        o.WriteLine($"network {r.NetworkName}{flops}");
        var m = r.Machine;
        string compute = m.SampleSeconds is { } s ? $"{s * 1e6:0.###} µs per sample"
            : $"{m.FlopsPerSecond / 1e9:0.##} GFLOP/s per host ({m.SecondsPerSample(n) * 1e6:0.###} µs per sample)";
        o.WriteLine(string.Create(Inv, $"inputs  batch {r.Shape.Batch} in {r.Shape.Shards} shards; {compute}; latency {m.LatencySeconds * 1e6:0.##} µs, " +
            $"{m.MessageSeconds * 1e6:0.##} µs per message, {m.ByteSeconds * 1e9:0.###} ns CPU per byte; sum {m.SumSecondsPerParameter * 1e9:0.###} ns, optimizer {m.OptimizerSecondsPerParameter * 1e9:0.###} ns per parameter"));
        double alone = new CostModel(n, m).AloneSamplesPerSecond(r.Shape.Batch);
        o.WriteLine(string.Create(Inv, $"efficiency = samples/s / (hosts × one host training alone: {alone:N0} samples/s)"));
    }

    public static void Table(TextWriter o, IReadOnlyList<PlanRow> rows)
    {
        foreach (var group in rows.GroupBy(r => r.LinkGbit))
        {
            o.WriteLine();
            o.WriteLine(string.Create(Inv, $"link {group.Key:0.###} Gbit/s"));
            o.WriteLine("hosts  topology  compute ms  comm ms  reduce ms  step ms   samples/s  efficiency  busiest link  MB/step  auto");
            foreach (var row in group)
            {
                var p = row.Prediction;
                o.WriteLine(string.Create(Inv, $"{row.Hosts,5}  {TopologyNames.Name(p.Topology),-8}  {p.ComputeSeconds * 1e3,10:0.00}  {p.CommunicationSeconds * 1e3,7:0.00}  " +
                    $"{p.ReduceSeconds * 1e3,9:0.00}  {p.StepSeconds * 1e3,7:0.00}  {p.SamplesPerSecond,10:N0}  {row.Efficiency * 100,9:0.0}%  " +
                    $"{p.BusiestLink,-12}  {p.BusiestLinkBytes / 1e6,7:0.00}  {TopologyNames.Name(row.Auto)}"));
            }
        }
    }

    public static string Csv(IReadOnlyList<PlanRow> rows)
    {
        var csv = new StringBuilder("link_gbit,hosts,topology,compute_ms,communication_ms,reduce_ms,step_ms,samples_per_s,efficiency,busiest_link,busiest_link_bytes,auto\n");
        foreach (var row in rows)
        {
            var p = row.Prediction;
            csv.Append(Inv, $"{row.LinkGbit},{row.Hosts},{TopologyNames.Name(p.Topology)},{p.ComputeSeconds * 1e3:0.####},{p.CommunicationSeconds * 1e3:0.####},")
               .Append(Inv, $"{p.ReduceSeconds * 1e3:0.####},{p.StepSeconds * 1e3:0.####},{p.SamplesPerSecond:0.#},{row.Efficiency:0.####},{p.BusiestLink},")
               .Append(Inv, $"{p.BusiestLinkBytes:0},{TopologyNames.Name(row.Auto)}\n");
        }
        return csv.ToString();
    }

    public static void Calibration(TextWriter o, string path, CalibrationResult result)
    {
        var f = result.Fitted;
        string compute = f.SampleSeconds is { } s ? $"--sample-us {s * 1e6:0.###}" : $"--gflops {f.FlopsPerSecond / 1e9:0.##}";
        o.WriteLine(string.Create(Inv, $"calibration  {result.Runs.Count} runs from {path}: fitted {compute} (per core) --message-us {f.MessageSeconds * 1e6:0.##} --byte-ns {f.ByteSeconds * 1e9:0.###}"));
        o.WriteLine("line  hosts  topology  cpu   link Gbit/s  measured samples/s  predicted  error   measured MB/step  predicted MB/step");
        foreach (var c in result.Runs)
        {
            var r = c.Run;
            string link = r.LinkGbit is { } g ? g.ToString("0.###", Inv) : "-";
            string bytes = r.BytesPerStep is { } b ? (b / 1e6).ToString("0.00", Inv) : "-";
            o.WriteLine(string.Create(Inv, $"{r.Line,4}  {r.Hosts,5}  {TopologyNames.Name(r.Topology),-8}  {r.CpuQuota,4:0.##}  {link,11}  {r.SamplesPerSecond,18:N0}  " +
                $"{c.Prediction.SamplesPerSecond,9:N0}  {c.Error * 100,6:+0.0;-0.0}%  {bytes,16}  {c.Prediction.BusiestLinkBytes / 1e6,17:0.00}"));
        }
        double worst = result.Runs.Max(c => Math.Abs(c.Error));
        o.WriteLine(string.Create(Inv, $"largest error {worst * 100:0.0}%; the table below uses the fitted figures"));
    }
}
