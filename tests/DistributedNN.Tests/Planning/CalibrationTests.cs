using DistributedNN.Planning;

namespace DistributedNN.Tests.Planning;

/// <summary>The calibration finds the figures that made a set of runs, and reads its files with one-line errors.</summary>
public sealed class CalibrationTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private static readonly NetworkCost Mlp = new(235_146, 1_408_512);
    private static readonly StepShape Command = new(1, 8, 1024);
    private static readonly MachineFigures Guess = new(FlopsPerSecond: 100e9, SampleSeconds: null, LinkBytesPerSecond: 10e9 / 8,
        LatencySeconds: 50e-6, MessageSeconds: 20e-6, SumSecondsPerParameter: 0.3e-9, OptimizerSecondsPerParameter: 0.7e-9);

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Runs_made_by_known_figures_give_those_figures_back()
    {
        var truth = Guess with { FlopsPerSecond = 40e9, MessageSeconds = 150e-6, ByteSeconds = 2e-9 };
        var shapes = new (int Hosts, Topology Topology, double Quota, double Gbit)[]
        {
            (1, Topology.Star, 0.3, 3), (2, Topology.Star, 0.3, 3), (4, Topology.Star, 0.3, 3), (8, Topology.Star, 0.2, 2),
            (2, Topology.Sharded, 0.3, 3), (4, Topology.Sharded, 0.3, 3), (8, Topology.Sharded, 0.2, 2),
        };
        var runs = shapes.Select((s, i) =>
        {
            var run = new MeasuredRun(i + 2, s.Hosts, s.Topology, 1, s.Quota, s.Gbit, null, null, null, null, null);
            double samples = Calibration.Predict(run, Mlp, truth, Command).SamplesPerSecond;
            return run with { SamplesPerSecond = samples };
        }).ToArray();

        var result = Calibration.Fit(runs, Mlp, Guess, Command);

        Assert.Equal(40e9, result.Fitted.FlopsPerSecond, 40e9 * 1e-6);
        Assert.Equal(150e-6, result.Fitted.MessageSeconds, 150e-6 * 1e-6);
        Assert.Equal(2e-9, result.Fitted.ByteSeconds, 2e-9 * 1e-6);
        Assert.All(result.Runs, r => Assert.InRange(r.Error, -1e-6, 1e-6));
    }

    [Fact]
    public void Runs_no_CPU_cost_holds_are_matched_and_one_run_keeps_the_overheads_it_was_given()
    {
        var truth = Guess with { FlopsPerSecond = 40e9, MessageSeconds = 150e-6 };
        var runs = new[] { (1, Topology.Star), (2, Topology.Star), (8, Topology.Star), (2, Topology.Sharded), (8, Topology.Sharded) }.Select((s, i) =>
        {
            var run = new MeasuredRun(i + 2, s.Item1, s.Item2, 1, 0.2, 2, null, null, null, null, null);
            return run with { SamplesPerSecond = Calibration.Predict(run, Mlp, truth, Command).SamplesPerSecond };
        }).ToArray();
        // the runs are held by their links, where the per-message cost binds no host's CPU: the fit matches them, whatever it makes of m
        var result = Calibration.Fit(runs, Mlp, Guess with { ByteSeconds = 5e-9 }, Command);
        Assert.All(result.Runs, r => Assert.InRange(r.Error, -1e-4, 1e-4));

        var one = Calibration.Fit(runs[..1], Mlp, Guess with { ByteSeconds = 0.1e-9 }, Command).Fitted;
        Assert.Equal((20e-6, 0.1e-9), (one.MessageSeconds, one.ByteSeconds)); // nothing to tell them from compute: kept
    }

    [Fact]
    public void A_tsv_file_names_its_columns_and_json_lines_use_the_same_names()
    {
        string tsv = _dir.File("runs.tsv");
        File.WriteAllText(tsv, "# from the testbed\nhosts\ttopology\tsamples_per_s\tcpu_quota\tlink_gbit\tbytes_per_step\textra\n" +
            "8\tstar\t22754\t0.2\t2\t15052000\tx\n\n2\tsharded\t19242.5\t0.3\t3\t\ty\n");
        var runs = MeasuredRunFile.Read(tsv);
        Assert.Equal(2, runs.Count);
        Assert.Equal(new MeasuredRun(3, 8, Topology.Star, 22754, 0.2, 2, null, null, null, null, 15052000), runs[0]);
        Assert.Equal((5, 2, Topology.Sharded, (double?)null), (runs[1].Line, runs[1].Hosts, runs[1].Topology, runs[1].BytesPerStep));

        string jsonl = _dir.File("runs.jsonl");
        File.WriteAllText(jsonl, "{\"hosts\": 4, \"topology\": \"star\", \"samples_per_second\": 31649, \"cpu\": 0.3, \"parameters\": 1863690, \"flops_per_sample\": 1.1e7}\n");
        var run = Assert.Single(MeasuredRunFile.Read(jsonl));
        Assert.Equal((4, 31649.0, 0.3, 1_863_690L, 1.1e7), (run.Hosts, run.SamplesPerSecond, run.CpuQuota, run.Parameters!.Value, run.FlopsPerSample!.Value));
    }

    [Fact]
    public void A_line_of_the_testbeds_results_file_reads_as_a_run()
    {
        // the keys bench/emulated-cluster.sh --results appends (links and epochs shortened)
        string path = _dir.File("results.jsonl");
        File.WriteAllText(path, "{\"label\":\"main\",\"hosts\":8,\"cpu\":\"0.2\",\"coordinator_cpu\":\"0.2\",\"cfs_period_us\":10000,\"rate\":\"2gbit\"," +
            "\"delay_ms\":0,\"loss_percent\":0,\"train_args\":\"--layers 784,256,128,10 --batch 1024 --shards 8 --topology sharded\"," +
            "\"samples_per_second\":23600,\"epoch_samples_per_second\":[23500,23700],\"parameters\":235146,\"batch\":1024,\"shards\":8," +
            "\"links\":[{\"host\":\"coordinator\",\"up_bytes_per_step\":7600000}],\"busiest_bytes_per_step\":15200000,\"scaling_efficiency\":null}\n" +
            "{\"hosts\":1,\"cpu\":\"none\",\"rate\":\"500mbit\",\"delay_ms\":0.5,\"train_args\":\"\",\"samples_per_second\":7100}\n");
        var runs = MeasuredRunFile.Read(path);
        Assert.Equal(new MeasuredRun(1, 8, Topology.Sharded, 23600, 0.2, 2, 235_146, null, 1024, 8, 15_200_000), runs[0]);
        Assert.Equal(new MeasuredRun(2, 1, Topology.Star, 7100, 1, 0.5, null, null, null, null, null, 0.5), runs[1]);
        // the same network as the command's: its FLOPs; the added delay on top of the latency
        var p = Calibration.Predict(runs[1], Mlp, Guess, Command);
        var q = Calibration.Predict(runs[1] with { DelayMs = null }, Mlp, Guess, Command);
        Assert.Equal(2 * 0.5e-3, p.CommunicationSeconds - q.CommunicationSeconds, 9); // one latency per phase
        Assert.Equal(1024 * 1_408_512 / 100e9, Calibration.Predict(runs[0], Mlp, Guess, Command).ComputeSeconds * 0.2 * 8, 9);
    }

    [Theory]
    [InlineData("hosts\ttopology\tsamples_per_s\n0\tstar\t100\n", "line 2: hosts is '0', not a whole number of at least 1")]
    [InlineData("hosts\ttopology\tsamples_per_s\n2\tring\t100\n", "line 2: topology is 'ring', not star or sharded")]
    [InlineData("hosts\ttopology\n2\tstar\n", "line 2: samples_per_s is missing")]
    [InlineData("{\"hosts\": 2, \"samples_per_s\": 9, \"rate\": \"fast\"}\n", "line 1: rate is 'fast', not a rate like 2gbit")]
    [InlineData("hosts\ttopology\tsamples_per_s\n2\tstar\n", "line 2: 2 tab-separated values but the header names 3")]
    [InlineData("{\"hosts\": 2,\n", "line 1: not a JSON object")]
    [InlineData("# nothing\n", "no measured runs in it")]
    public void A_bad_file_is_one_line_naming_the_file_and_line(string text, string expected)
    {
        string path = _dir.File("bad.tsv");
        File.WriteAllText(path, text);
        var e = Assert.Throws<UserErrorException>(() => MeasuredRunFile.Read(path));
        Assert.Contains($"--calibrate {path}", e.Message);
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void The_error_is_predicted_over_measured_minus_one()
    {
        var run = new MeasuredRun(2, 1, Topology.Star, 1000, 1, null, null, null, null, null, null);
        var p = Calibration.Predict(run, Mlp, Guess, Command);
        var calibrated = new CalibratedRun(run with { SamplesPerSecond = p.SamplesPerSecond / 1.25 }, p);
        Assert.Equal(0.25, calibrated.Error, 12);
    }
}
