using DistributedNN.Configuration;
using DistributedNN.Coordinator.Cli;

namespace DistributedNN.Tests.Cli;

/// <summary>`train --verify-fraction`: from the command line, DNN_VERIFY_FRACTION or --config, and refused in one line when it makes no sense.</summary>
public sealed class VerifyFractionOptionTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData(new[] { "--verify-fraction", "1.5" }, "error: --verify-fraction must be between 0 and 1 (got 1.5)")]
    [InlineData(new[] { "--verify-fraction", "-0.1" }, "error: --verify-fraction must be between 0 and 1 (got -0.1)")]
    [InlineData(new[] { "--verify-fraction", "NaN" }, "error: --verify-fraction must be between 0 and 1 (got NaN)")]
    [InlineData(new[] { "--verify-fraction", "0.5" }, "error: --verify-fraction checks the workers' results: give --workers, --spawn-workers or --min-workers too")]
    public void A_fraction_outside_0_to_1_or_without_workers_is_a_one_line_error(string[] args, string message)
    {
        var (exit, output, err) = CliRunner.Run(["train", .. args]);
        Assert.Equal(1, exit);
        Assert.Equal(message, err.TrimEnd());
        Assert.Equal("", output); // refused before any data is read
    }

    [Fact]
    public void The_fraction_comes_from_the_environment_or_a_config_file_when_the_command_line_leaves_it_out()
    {
        var train = TrainCommand.Create(TextWriter.Null, TextWriter.Null);
        Assert.Equal(0, train.Parse(["--epochs", "1"]).GetValue<double>("--verify-fraction")); // the default trusts the workers
        string config = _dir.File("train.json");
        File.WriteAllText(config, """{ "verify-fraction": 0.25 }""");
        Func<string, string?> env = key => key == "DNN_VERIFY_FRACTION" ? "0.05" : null;
        Assert.Equal(0.25, train.Parse(ConfigArguments.Expand(["--config", config], train, _ => null)).GetValue<double>("--verify-fraction"));
        Assert.Equal(0.05, train.Parse(ConfigArguments.Expand(["--config", config], train, env)).GetValue<double>("--verify-fraction"));
        Assert.Equal(1, train.Parse(ConfigArguments.Expand(["--verify-fraction", "1", "--config", config], train, env)).GetValue<double>("--verify-fraction"));
        var (exit, _, err) = CliRunner.Run(["train", "--config", Write("""{ "verify-fraction": 2 }""")]);
        Assert.Equal(1, exit);
        Assert.Equal("error: --verify-fraction must be between 0 and 1 (got 2)", err.TrimEnd());
    }

    private string Write(string json)
    {
        string path = _dir.File(Guid.NewGuid().ToString("N") + ".json");
        File.WriteAllText(path, json);
        return path;
    }
}
