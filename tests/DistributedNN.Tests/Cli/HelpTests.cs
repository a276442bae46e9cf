namespace DistributedNN.Tests.Cli;

/// <summary>Every command answers --help with its description, an example and its options, and exits 0.</summary>
public sealed class HelpTests
{
    public static TheoryData<string, string[]> Commands() => new()
    {
        { "train", ["--layers", "--epochs", "--workers", "--spawn-workers", "--tls-cert", "--gradient-format", "--config", "--out", "dnn train"] },
        { "evaluate", ["<model>", "--data", "dnn evaluate"] },
        { "predict", ["<model>", "<inputs>", "--labels", "--top", "--limit", "dnn predict"] },
        { "export", ["<model>", "--format", "onnx", "dnn export"] },
        { "inspect", ["<model>", "dnn inspect"] },
        { "cert", ["--out", "--days", "dnn cert"] },
        { "plan", ["--layers", "--model-spec", "--parameters", "--gflops", "--link-gbit", "--hosts", "--topology", "--calibrate", "--plot", "dnn plan"] },
        { "worker", ["--seed-nodes", "--cores", "--join-timeout", "--tls-cert", "dnn-worker --seed-nodes"] },
    };

    [Theory]
    [MemberData(nameof(Commands))]
    public void Every_command_has_help_with_an_example(string command, string[] mentions)
    {
        var (exit, output, err) = CliRunner.Run(command, "--help");
        Assert.True(exit == 0, err);
        Assert.Contains("Usage:", output);
        Assert.Contains("Example", output);
        foreach (var m in mentions) Assert.Contains(m, output);
    }

    [Fact]
    public void The_root_help_lists_every_command_and_an_unknown_one_is_a_usage_error()
    {
        var (exit, output, _) = CliRunner.Run("--help");
        Assert.Equal(0, exit);
        foreach (var command in new[] { "train", "evaluate", "predict", "export", "inspect", "cert", "plan", "worker" }) Assert.Contains(command, output);
        (exit, _, var err) = CliRunner.Run("frobnicate");
        Assert.Equal(2, exit);
        Assert.StartsWith("error: ", err);
    }
}
