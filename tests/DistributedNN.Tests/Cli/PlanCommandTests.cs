using System.Globalization;
using StbImageSharp;

namespace DistributedNN.Tests.Cli;

/// <summary>`dnn plan` in process: its table, CSV, plot and calibration, and one-line errors for bad input.</summary>
public sealed class PlanCommandTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void The_table_has_a_row_per_link_host_count_and_topology_and_the_csv_the_same_rows()
    {
        string csv = _dir.File("plan.csv");
        var (exit, output, err) = CliRunner.Run("plan", "--layers", "784,256,128,10", "--hosts", "1,2,8", "--link-gbit", "10,1", "--csv", csv);
        Assert.True(exit == 0, err);
        Assert.Contains("network 784-256-128-10", output);
        Assert.Contains("235146 parameters), 1.409 MFLOP per sample", output);
        Assert.Contains("efficiency = samples/s / (hosts × one host training alone: 79,205 samples/s)", output); // 1024 / (1024 × 1.4085 MFLOP / 113 GFLOP/s + 235,146 × 0.7 ns)
        Assert.Contains("link 10 Gbit/s", output);
        Assert.Contains("link 1 Gbit/s", output);
        var lines = File.ReadAllLines(csv);
        Assert.Equal("link_gbit,hosts,topology,compute_ms,communication_ms,reduce_ms,step_ms,samples_per_s,efficiency,busiest_link,busiest_link_bytes,auto", lines[0]);
        Assert.Equal(2 * 3 * 2 + 1, lines.Length);
        var rows = lines.Skip(1).Select(l => l.Split(',')).ToArray();
        // 8 hosts on 10 Gbit/s: the star's coordinator carries (8 + 8) × 235,146 × 4 bytes
        var star8 = rows.Single(r => r[0] == "10" && r[1] == "8" && r[2] == "star");
        Assert.Equal(((8 + 8) * 235_146L * 4).ToString(CultureInfo.InvariantCulture), star8[10]);
        Assert.Equal("coordinator", star8[9]);
        var sharded8 = rows.Single(r => r[0] == "10" && r[1] == "8" && r[2] == "sharded");
        Assert.True(double.Parse(sharded8[7], CultureInfo.InvariantCulture) > double.Parse(star8[7], CultureInfo.InvariantCulture));
        Assert.Equal("sharded", sharded8[11]);
        Assert.Equal("star", rows.First(r => r[1] == "1")[11]);
    }

    [Fact]
    public void The_plot_is_a_png_with_curves_and_text()
    {
        string png = _dir.File("scaling.png");
        var (exit, _, err) = CliRunner.Run("plan", "--model-spec", Path.Combine(SourceShapeTests.RepositoryRoot(), "examples", "cnn.json"),
            "--batch", "256", "--gflops", "45", "--link-gbit", "10,1", "--plot", png);
        Assert.True(exit == 0, err);
        using var stream = File.OpenRead(png);
        var image = ImageResult.FromStream(stream, ColorComponents.RedGreenBlue);
        Assert.Equal((900, 560), (image.Width, image.Height));
        Assert.True(image.Data.Distinct().Count() > 10, "the plot is blank");
    }

    [Fact]
    public void Calibration_prints_each_run_next_to_its_prediction()
    {
        string tsv = _dir.File("measured.tsv");
        File.WriteAllText(tsv, "hosts\ttopology\tsamples_per_s\tcpu_quota\tlink_gbit\n1\tstar\t10429\t0.3\t3\n2\tstar\t19242\t0.3\t3\n" +
            "4\tstar\t31649\t0.3\t3\n8\tstar\t22754\t0.2\t2\n");
        var (exit, output, err) = CliRunner.Run("plan", "--calibrate", tsv, "--hosts", "1,8");
        Assert.True(exit == 0, err);
        Assert.Contains($"calibration  4 runs from {tsv}: fitted --gflops ", output);
        var runLines = output.Split('\n').Where(l => l.TrimStart().StartsWith("2  ") || l.TrimStart().StartsWith("5  ")).ToArray();
        Assert.Equal(2, runLines.Length); // lines 2 and 5 of the file: the 1- and the 8-host run
        Assert.Contains("22,754", runLines[1]);
        Assert.Contains("%", runLines[1]);
        Assert.Contains("largest error", output);
    }

    [Theory]
    [InlineData(1, "--link-gbit=-10", "--link-gbit '-10': '-10' is not a positive number")]
    [InlineData(1, "--hosts=0", "--hosts '0': '0' is not a positive number")]
    [InlineData(1, "--hosts=2.5", "--hosts: 2.5 is not a whole number of hosts")]
    [InlineData(1, "--topology=ring", "--topology 'ring' is not star, sharded or both")]
    [InlineData(1, "--model-spec=/nonexistent/spec.json", "--model-spec /nonexistent/spec.json: cannot read it")]
    [InlineData(1, "--calibrate=/nonexistent/runs.tsv", "--calibrate /nonexistent/runs.tsv: cannot read it")]
    [InlineData(1, "--gflops=0", "--gflops must be a positive number")]
    [InlineData(1, "--latency-us=-1", "--latency-us must be zero or a positive number")]
    [InlineData(1, "--shards=0", "--shards must be between 1 and --batch")]
    [InlineData(1, "--flops-per-sample=5", "--flops-per-sample goes with --parameters")]
    [InlineData(1, "--plot=out.jpg", "--plot out.jpg: the plot is a PNG file")]
    [InlineData(2, "--batch=many", "many")]
    public void Bad_input_is_one_error_line_and_an_exit_code(int code, string option, string message)
    {
        var (exit, output, err) = CliRunner.Run("plan", option);
        Assert.Equal(code, exit);
        Assert.Equal("", output);
        Assert.StartsWith("error: ", err);
        Assert.Contains(message, err.Split('\n')[0]);
        if (code == 1) Assert.Single(err.TrimEnd('\n').Split('\n'));
    }

    [Fact]
    public void Two_ways_of_giving_the_network_or_the_compute_speed_are_refused()
    {
        var (exit, _, err) = CliRunner.Run("plan", "--layers", "784,10", "--parameters", "1000");
        Assert.Equal((1, "error: give the network one way: --layers, --model-spec, or --parameters (with --flops-per-sample)"), (exit, err.Trim()));
        (exit, _, err) = CliRunner.Run("plan", "--gflops", "10", "--sample-us", "5");
        Assert.Equal((1, "error: give the compute speed one way: --gflops or --sample-us"), (exit, err.Trim()));
        (exit, _, err) = CliRunner.Run("plan", "--parameters", "100000000");
        Assert.Equal(1, exit);
        Assert.Contains("give --flops-per-sample, or the time per sample with --sample-us", err);
        (exit, var output, err) = CliRunner.Run("plan", "--parameters", "100000000", "--sample-us", "2000", "--hosts", "64");
        Assert.True(exit == 0, err);
        Assert.Contains("100,000,000 parameters", output);
    }
}
