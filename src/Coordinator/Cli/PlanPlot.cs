using DistributedNN.Planning;

namespace DistributedNN.Coordinator.Cli;

/// <summary>`dnn plan --plot`: samples/s against worker hosts, a curve per topology and link rate, hosts on a log₂ axis.</summary>
internal static class PlanPlot
{
    public const int Width = 900, Height = 560;

    public static void Save(string path, PlanRequest request, IReadOnlyList<PlanRow> rows)
    {
        var plot = new ScottPlot.Plot();
        var palette = new ScottPlot.Palettes.Category10();
        foreach (var curve in rows.GroupBy(r => (r.LinkGbit, r.Prediction.Topology)))
        {
            var points = curve.OrderBy(r => r.Hosts).ToArray();
            var line = plot.Add.Scatter(points.Select(r => Math.Log2(r.Hosts)).ToArray(), points.Select(r => r.Prediction.SamplesPerSecond).ToArray());
            line.LegendText = $"{TopologyNames.Name(curve.Key.Topology)}, {curve.Key.LinkGbit:0.###} Gbit/s";
            line.Color = palette.GetColor(request.LinkGbit.ToList().IndexOf(curve.Key.LinkGbit)); // one colour per link rate
            if (curve.Key.Topology == Topology.Star) line.LinePattern = ScottPlot.LinePattern.Dashed;
        }
        // compute alone, every host busy: the ceiling no topology passes
        var hosts = request.Hosts.Distinct().Order().ToArray();
        var ideal = plot.Add.Scatter(hosts.Select(h => Math.Log2(h)).ToArray(), hosts.Select(h => ComputeOnly(request, h)).ToArray());
        ideal.LegendText = "compute only";
        ideal.Color = ScottPlot.Colors.Gray;
        ideal.LinePattern = ScottPlot.LinePattern.Dotted;
        plot.Axes.Bottom.SetTicks(hosts.Select(h => Math.Log2(h)).ToArray(), hosts.Select(h => h.ToString()).ToArray());
        plot.Title($"Predicted samples/s — {request.NetworkTitle}, batch {request.Shape.Batch}, {request.Shape.Shards} shards");
        plot.XLabel("worker hosts");
        plot.YLabel("samples/s");
        plot.Axes.SetLimitsY(0, rows.Max(r => r.Prediction.SamplesPerSecond) * 1.1);
        plot.ShowLegend(ScottPlot.Edge.Right);
        try { plot.SavePng(path, Width, Height); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UserErrorException($"--plot {path}: cannot write it ({e.Message})");
        }
    }

    /// <summary>Samples/s if the step were the busiest host's compute alone.</summary>
    private static double ComputeOnly(PlanRequest request, int hosts)
    {
        var shape = request.Shape with { Hosts = hosts };
        return shape.Batch / (shape.SamplesOnBusiestHost * request.Machine.SecondsPerSample(request.Network));
    }
}
