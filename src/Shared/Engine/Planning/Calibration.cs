namespace DistributedNN.Planning;

/// <summary>
/// Fits the two figures that are hardest to measure apart — the compute rate and the per-message overhead — to measured
/// runs, with the bandwidth, latency and summing costs taken as given, then predicts each run with the fitted figures.
/// </summary>
public static class Calibration
{
    /// <summary>
    /// Least squares on the relative error: each run's measured step time T (batch / samples_per_s) against the model's
    /// x·compute + m·messages/quota + the rest, solved for the compute multiplier x and the overhead m (never below 0). The
    /// busiest link of a phase depends on m, so the fit is repeated a few times from the figures it found.
    /// </summary>
    public static CalibrationResult Fit(IReadOnlyList<MeasuredRun> runs, NetworkCost network, MachineFigures initial, StepShape command)
    {
        var machine = initial;
        for (int round = 0; round < 4; round++)
        {
            var parts = runs.Select(r => Parts(r, Predict(r, network, machine, command))).ToArray();
            (double x, double m) = Solve(parts, machine.MessageSeconds);
            if (!(x > 0) || !double.IsFinite(x))
                throw new UserErrorException("--calibrate: the measured runs are faster than their communication alone predicts; check each run's link_gbit, parameters and --latency-us");
            machine = machine with { FlopsPerSecond = machine.FlopsPerSecond / x, SampleSeconds = machine.SampleSeconds * x, MessageSeconds = m };
        }
        var predictions = runs.Select(r => new CalibratedRun(r, Predict(r, network, machine, command))).ToArray();
        return new CalibrationResult(machine, predictions);
    }

    /// <summary>The model's prediction for <paramref name="run"/>: its network, shape, quota and link, or the command's.</summary>
    public static StepPrediction Predict(MeasuredRun run, NetworkCost network, MachineFigures machine, StepShape command)
    {
        long parameters = run.Parameters ?? network.Parameters;
        var net = new NetworkCost(parameters, run.FlopsPerSample ?? (parameters == network.Parameters ? network.FlopsPerSample : 0));
        var host = machine with
        {
            CpuShare = run.CpuQuota,
            LinkBytesPerSecond = run.LinkGbit is { } g ? g * 1e9 / 8 : machine.LinkBytesPerSecond,
            LatencySeconds = machine.LatencySeconds + (run.DelayMs ?? 0) * 1e-3,
            // a time per sample belongs to the command's network; another network's needs its FLOPs
            SampleSeconds = net == network ? machine.SampleSeconds : null,
        };
        if (host.SampleSeconds is null && net.FlopsPerSample <= 0)
            throw new UserErrorException($"--calibrate line {run.Line}: the run's network has {net.Parameters} parameters but no flops_per_sample");
        var shape = new StepShape(run.Hosts, run.Shards ?? command.Shards, run.Batch ?? command.Batch);
        return new CostModel(net, host).Predict(run.Topology, shape);
    }

    /// <summary>Per run, divided by its measured time T: compute, seconds per unit of m, and what is left to explain.</summary>
    private static (double Compute, double PerOverhead, double Target) Parts(MeasuredRun run, StepPrediction p)
    {
        double t = p.Shape.Batch / run.SamplesPerSecond;
        double rest = p.StepSeconds - p.ComputeSeconds - p.MessageSeconds;
        return (p.ComputeSeconds / t, p.CriticalMessages / run.CpuQuota / t, (t - rest) / t);
    }

    private static (double X, double M) Solve((double A, double B, double Y)[] rows, double currentM)
    {
        double aa = 0, ab = 0, bb = 0, ay = 0, by = 0;
        foreach (var (a, b, y) in rows) { aa += a * a; ab += a * b; bb += b * b; ay += a * y; by += b * y; }
        double det = aa * bb - ab * ab;
        if (rows.Length >= 2 && det > 1e-12 * aa * bb)
        {
            double x = (ay * bb - by * ab) / det, m = (aa * by - ab * ay) / det;
            if (m >= 0) return (x, m);
            return (ay / aa, 0); // a negative overhead means none is visible: keep m = 0 and fit compute alone
        }
        return ((ay - currentM * ab) / aa, currentM); // one run, or no messages to tell m from compute: keep m
    }
}
