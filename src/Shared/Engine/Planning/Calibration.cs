namespace DistributedNN.Planning;

/// <summary>
/// Fits the figures that are hardest to measure apart — the compute rate, the per-message overhead and the CPU cost per byte
/// moved — to measured runs, with the bandwidth, latency and summing costs taken as given, then predicts each run with the
/// fitted figures.
/// </summary>
public static class Calibration
{
    /// <summary>
    /// Least squares on the relative error: each run's measured step time T (batch / samples_per_s) against the model's
    /// x·compute + m·messages/quota + c·bytes/quota + the rest, solved for the compute multiplier x, the overhead per message m
    /// and per byte c (neither below 0: a cost the runs do not show is left at 0 and the others refitted). Which bound holds a
    /// run's step (its links, a worker host's CPU, the coordinator's) depends on the figures, so the fit is repeated from the
    /// figures it found, each run taken by the bound that held it under them.
    /// </summary>
    public static CalibrationResult Fit(IReadOnlyList<MeasuredRun> runs, NetworkCost network, MachineFigures initial, StepShape command)
    {
        var machine = initial;
        for (int round = 0; round < 12; round++)
        {
            var parts = runs.Select(r => Parts(r, Predict(r, network, machine, command))).ToArray();
            (double x, double m, double c) = Solve(parts, machine.MessageSeconds, machine.ByteSeconds);
            if (!(x > 0) || !double.IsFinite(x))
                throw new UserErrorException("--calibrate: the measured runs are faster than their communication alone predicts; check each run's link_gbit, parameters and --latency-us");
            machine = machine with { FlopsPerSecond = machine.FlopsPerSecond / x, SampleSeconds = machine.SampleSeconds * x, MessageSeconds = m, ByteSeconds = c };
        }
        if (runs.Count >= 3) // fewer runs cannot tell three figures apart: the rate alone was fitted
            machine = new[] { machine, Refine(runs, network, machine, command), Refine(runs, network, Coarse(runs, network, machine, command), command) }
                .MinBy(m => SquaredError(runs, network, m, command))!;
        var predictions = runs.Select(r => new CalibratedRun(r, Predict(r, network, machine, command))).ToArray();
        return new CalibrationResult(machine, predictions);
    }

    /// <summary>
    /// The sum of squared relative errors minimised directly from <paramref name="start"/> (a compass search over the compute
    /// rate's logarithm, m and c, each step doubled after a move and halved when neither way helps): the step is the larger of its bounds, so the
    /// linear fit above, which takes each run by the bound that held it under the previous figures, can stop short of the
    /// best figures where runs change bounds.
    /// </summary>
    private static MachineFigures Refine(IReadOnlyList<MeasuredRun> runs, NetworkCost network, MachineFigures start, StepShape command)
    {
        double Cost(double[] v) => SquaredError(runs, network, With(start, v[0], v[1], v[2]), command);
        double[] at = [0, start.MessageSeconds, start.ByteSeconds];
        double[] step = [0.25, Math.Max(start.MessageSeconds, 20e-6), Math.Max(start.ByteSeconds, 0.1e-9)];
        double best = Cost(at);
        double[] small = [1e-10, 1e-12, 1e-16]; // relative 1e-10 for the rate; 1 ps per message, 1e-7 ps per byte
        for (int i = 0; i < 30_000 && Enumerable.Range(0, 3).Any(d => step[d] > small[d]); i++)
        {
            int d = i % 3;
            bool moved = false;
            foreach (int sign in new[] { 1, -1 })
            {
                double[] next = (double[])at.Clone();
                next[d] = d == 0 ? at[d] + sign * step[d] : Math.Max(0, at[d] + sign * step[d]);
                double cost = Cost(next);
                if (cost < best) (at, best, moved) = (next, cost, true);
            }
            step[d] = moved ? step[d] * 2 : step[d] / 2; // longer strides along a valley, shorter ones where it turns
        }
        return With(start, at[0], at[1], at[2]);
    }

    /// <summary>
    /// A start for <see cref="Refine"/> where the search cannot get stuck on a bound's edge far from the best figures: the
    /// best of a grid of per-message (0–1 ms) and per-byte (0–8 ns) costs, each with the compute rate that suits it best.
    /// </summary>
    private static MachineFigures Coarse(IReadOnlyList<MeasuredRun> runs, NetworkCost network, MachineFigures start, StepShape command)
    {
        var best = (Cost: double.PositiveInfinity, Figures: start);
        for (int i = 0; i <= 24; i++)
        for (int j = 0; j <= 24; j++)
        {
            double m = i == 0 ? 0 : 1e-6 * Math.Pow(1000, (i - 1) / 23.0), c = j == 0 ? 0 : 0.01e-9 * Math.Pow(800, (j - 1) / 23.0);
            for (double lx = -4; lx <= 4; lx += 0.125)
            {
                var figures = With(start, lx, m, c);
                double cost = SquaredError(runs, network, figures, command);
                if (cost < best.Cost) best = (cost, figures);
            }
        }
        return best.Figures;
    }

    private static MachineFigures With(MachineFigures start, double logRate, double message, double perByte) => start with
    {
        FlopsPerSecond = start.FlopsPerSecond * Math.Exp(logRate), SampleSeconds = start.SampleSeconds / Math.Exp(logRate), MessageSeconds = message, ByteSeconds = perByte,
    };

    private static double SquaredError(IReadOnlyList<MeasuredRun> runs, NetworkCost network, MachineFigures figures, StepShape command) => runs.Sum(r =>
    {
        double e = Predict(r, network, figures, command).SamplesPerSecond / r.SamplesPerSecond - 1;
        return e * e;
    });

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

    /// <summary>Per run, divided by its measured time T: compute, seconds per unit of m and of c, and what is left to explain.</summary>
    private static double[] Parts(MeasuredRun run, StepPrediction p)
    {
        double t = p.Shape.Batch / run.SamplesPerSecond;
        double rest = p.StepSeconds - p.CriticalComputeSeconds - p.MessageSeconds - p.ByteSeconds;
        return [p.CriticalComputeSeconds / t, p.CriticalMessages / run.CpuQuota / t, p.CriticalBytes / run.CpuQuota / t, (t - rest) / t];
    }

    /// <summary>
    /// Least squares for (x, m, c) with m, c ≥ 0: all three if the runs tell them apart, else (x, m) with c = 0, else (x, c)
    /// with m = 0. A negative m or c is a cost the runs do not show (0); when no pair can be separated (one run, or runs that
    /// cannot tell the costs apart) only x is fitted and m and c are kept.
    /// </summary>
    private static (double X, double M, double C) Solve(double[][] rows, double currentM, double currentC)
    {
        bool negative = false;
        foreach (var free in new[] { new[] { 0, 1, 2 }, [0, 1], [0, 2] })
        {
            if (rows.Length < free.Length || !LeastSquares(rows, free, [0, 0, 0], out var s)) continue;
            if (s[1] >= 0 && s[2] >= 0) return (s[0], s[1], s[2]);
            negative = true;
        }
        double[] keep = negative ? [0, 0, 0] : [0, currentM, currentC];
        return LeastSquares(rows, [0], keep, out var only) ? (only[0], keep[1], keep[2]) : (double.NaN, currentM, currentC);
    }

    /// <summary>
    /// Solves rows·(x, m, c) ≈ y over the <paramref name="free"/> unknowns, the others at <paramref name="fixedValues"/>. Each
    /// column is scaled to unit length first: compute fractions, messages and bytes differ by eight orders of magnitude.
    /// </summary>
    private static bool LeastSquares(double[][] rows, int[] free, double[] fixedValues, out double[] solution)
    {
        int n = free.Length;
        solution = (double[])fixedValues.Clone();
        var norm = free.Select(j => Math.Sqrt(rows.Sum(r => r[j] * r[j]))).ToArray();
        if (norm.Any(v => !(v > 0) || !double.IsFinite(v))) return false; // a cost no run has: nothing to fit it from
        var ata = new double[n, n];
        var aty = new double[n];
        foreach (var row in rows)
        {
            double y = row[3] - Enumerable.Range(0, 3).Where(j => !free.Contains(j)).Sum(j => row[j] * fixedValues[j]);
            for (int i = 0; i < n; i++)
            {
                aty[i] += row[free[i]] / norm[i] * y;
                for (int j = 0; j < n; j++) ata[i, j] += row[free[i]] / norm[i] * (row[free[j]] / norm[j]);
            }
        }
        var x = Gauss(ata, aty);
        if (x is null) return false;
        for (int i = 0; i < n; i++) solution[free[i]] = x[i] / norm[i];
        return true;
    }

    /// <summary>The normal equations by Gaussian elimination with partial pivoting (null: singular, the unknowns not separable).</summary>
    private static double[]? Gauss(double[,] a, double[] b)
    {
        int n = b.Length;
        var m = (double[,])a.Clone();
        var v = (double[])b.Clone();
        for (int col = 0; col < n; col++)
        {
            // the columns have unit length, so the diagonal starts at 1: a pivot near 0 means dependent columns
            int pivot = Enumerable.Range(col, n - col).MaxBy(r => Math.Abs(m[r, col]));
            if (!(Math.Abs(m[pivot, col]) > 1e-9)) return null;
            for (int k = 0; k < n; k++) (m[col, k], m[pivot, k]) = (m[pivot, k], m[col, k]);
            (v[col], v[pivot]) = (v[pivot], v[col]);
            for (int r = col + 1; r < n; r++)
            {
                double f = m[r, col] / m[col, col];
                for (int k = col; k < n; k++) m[r, k] -= f * m[col, k];
                v[r] -= f * v[col];
            }
        }
        var x = new double[n];
        for (int r = n - 1; r >= 0; r--)
        {
            double s = v[r];
            for (int k = r + 1; k < n; k++) s -= m[r, k] * x[k];
            x[r] = s / m[r, r];
        }
        return x;
    }
}
