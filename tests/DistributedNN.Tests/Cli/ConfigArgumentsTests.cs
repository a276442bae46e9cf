using DistributedNN.Configuration;
using DistributedNN.Coordinator.Cli;
using DistributedNN.Tests.Distributed;

namespace DistributedNN.Tests.Cli;

/// <summary>Settings from a --config file and DNN_* variables: the command line wins, then the environment, then the file.</summary>
public sealed class ConfigArgumentsTests : IDisposable
{
    private readonly DistributedNN.Tests.TempDirectory _dir = new();
    private readonly System.CommandLine.Command _train = TrainCommand.Create(TextWriter.Null, TextWriter.Null);

    public void Dispose() => _dir.Dispose();

    private string Config(string json)
    {
        string path = _dir.File(Guid.NewGuid().ToString("N") + ".json");
        File.WriteAllText(path, json);
        return path;
    }

    private static Func<string, string?> Env(params (string Key, string Value)[] values) =>
        key => values.FirstOrDefault(v => v.Key == key).Value;

    [Fact]
    public void Options_override_the_environment_which_overrides_the_file()
    {
        string config = Config("""{ "epochs": 7, "lr": 0.5, "batch": 32, "optimizer": "sgd", "no-shuffle": true, "layers": "4,8,2" }""");
        var args = ConfigArguments.Expand(["--epochs", "2", "--config", config], _train, Env(("DNN_EPOCHS", "5"), ("DNN_LR", "0.25")));
        var parse = _train.Parse(args);
        Assert.Empty(parse.Errors);
        Assert.Equal(2, parse.GetValue<int>("--epochs"));          // option
        Assert.Equal(0.25f, parse.GetValue<float?>("--lr"));        // environment over file
        Assert.Equal(32, parse.GetValue<int>("--batch"));           // file
        Assert.Equal("sgd", parse.GetValue<string>("--optimizer"));
        Assert.True(parse.GetValue<bool>("--no-shuffle"));
        Assert.Equal("4,8,2", parse.GetValue<string>("--layers"));
        Assert.DoesNotContain("--config", args);
    }

    [Fact]
    public void The_worker_reads_a_config_file_under_its_own_variables()
    {
        var worker = DistributedNN.Worker.WorkerCommand.Create();
        string config = Config("""{ "seed-nodes": "akka.tcp://dnn@10.0.0.5:4053", "cores": 3, "data": "/file", "join-timeout": 5, "log-format": "json" }""");
        // DNN_DATA is the coordinator's data: the worker's --data comes from DNN_WORKER_DATA
        var env = Env(("DNN_CORES", "2"), ("DNN_DATA", "/coordinator"), ("DNN_WORKER_DATA", "/mounted"));
        var parse = worker.Parse(DistributedNN.Worker.WorkerCommand.ExpandConfig(["--join-timeout", "9", "--config", config], worker, env));
        Assert.Empty(parse.Errors);
        Assert.Equal(9, parse.GetValue<int?>("--join-timeout"));                       // option
        Assert.Equal(2, parse.GetValue<int?>("--cores"));                              // environment over file
        Assert.Equal("/mounted", parse.GetValue<string?>("--data"));
        Assert.Equal("akka.tcp://dnn@10.0.0.5:4053", parse.GetValue<string?>("--seed-nodes")); // file
        Assert.Equal("json", parse.GetValue<string?>("--log-format"));
        var e = Assert.Throws<UserErrorException>(() => DistributedNN.Worker.WorkerCommand.ExpandConfig(["--config", Config("""{ "epochs": 3 }""")], worker, Env()));
        Assert.StartsWith($"--config {_dir.Path}", e.Message);
        Assert.Contains("unknown key 'epochs' (the keys are the option names of 'worker'", e.Message);
    }

    [Fact]
    public void False_and_null_leave_the_default_and_booleans_come_from_the_environment_too()
    {
        string config = Config("""{ "no-shuffle": false, "save": null }""");
        var parse = _train.Parse(ConfigArguments.Expand(["--config=" + config], _train, Env()));
        Assert.False(parse.GetValue<bool>("--no-shuffle"));
        Assert.Null(parse.GetValue<string?>("--save"));
        parse = _train.Parse(ConfigArguments.Expand([], _train, Env(("DNN_NO_SHUFFLE", "1"))));
        Assert.True(parse.GetValue<bool>("--no-shuffle"));
        var e = Assert.Throws<UserErrorException>(() => ConfigArguments.Expand([], _train, Env(("DNN_NO_SHUFFLE", "maybe"))));
        Assert.Equal("DNN_NO_SHUFFLE=maybe: --no-shuffle takes true or false", e.Message);
    }

    [Theory]
    [InlineData("""{ "epoch": 3 }""", "unknown key 'epoch'")]
    [InlineData("""{ "epochs": [1, 2] }""", "'epochs' must be a string, number or true/false")]
    [InlineData("""[1, 2]""", "the file must hold one JSON object")]
    [InlineData("""{ "epochs": 3, """, "not valid JSON")]
    public void A_bad_config_file_is_a_one_line_error_through_the_CLI(string json, string message)
    {
        var (exit, _, err) = CliRunner.Run("train", "--config", Config(json));
        Assert.Equal(1, exit);
        Assert.StartsWith("error: --config ", err);
        Assert.Contains(message, err);
        Assert.Single(err.Trim().Split('\n'));
        (exit, _, err) = CliRunner.Run("train", "--config", _dir.File("missing.json"));
        Assert.Equal(1, exit);
        Assert.Contains("cannot read it", err);
    }

    [Fact]
    public void A_run_takes_its_settings_from_the_file_and_a_bad_value_there_is_caught_by_the_same_checks()
    {
        string config = Config($$"""{ "data": "{{TestData.Csv.Replace("\\", "\\\\")}}", "layers": "4,8,2", "epochs": 2, "batch": 16, "activation": "tanh" }""");
        var (exit, output, err) = CliRunner.Run("train", "--config", config);
        Assert.True(exit == 0, err);
        Assert.Contains("epoch 2/2", output);
        (exit, output, err) = CliRunner.Run("train", "--config", config, "--epochs", "1");
        Assert.True(exit == 0, err);
        Assert.Contains("epoch 1/1", output);
        Assert.DoesNotContain("epoch 2/", output);
        (exit, _, err) = CliRunner.Run("train", "--config", Config("""{ "epochs": -2 }"""));
        Assert.Equal(1, exit);
        Assert.Contains("--epochs must be zero or more (got -2", err);
    }
}
