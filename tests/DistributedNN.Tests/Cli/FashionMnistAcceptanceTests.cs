using System.Text.Json;

namespace DistributedNN.Tests.Cli;

/// <summary>
/// Real training runs of `dnn train` on Fashion-MNIST (from the Debian package dataset-fashion-mnist,
/// which .ci/run installs). They fail, not skip, when the data set is missing.
/// </summary>
public sealed class FashionMnistAcceptanceTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    public void Dispose() => _dir.Dispose();

    private JsonElement Train(params string[] args)
    {
        string metrics = _dir.File("metrics.json");
        var (exit, output, err) = CliRunner.Run(["train", .. args, "--metrics-out", metrics]);
        Assert.True(exit == 0, $"exit {exit}: {err}\n{output}");
        return JsonDocument.Parse(File.ReadAllText(metrics)).RootElement.Clone();
    }

    [Fact]
    [Trait(TestTiers.Category, TestTiers.Integration)]
    public void Sgd_with_pytorch_settings_reaches_84_percent_in_3_epochs()
    {
        // the settings of ../shared/peers/torch_mlp.py, where PyTorch reaches 84.2%
        var m = Train("--layers", "784,256,128,10", "--activation", "relu", "--loss", "ce", "--optimizer", "sgd", "--lr", "0.1", "--batch", "128", "--epochs", "3");
        double acc = m.GetProperty("test_accuracy").GetDouble();
        Assert.True(acc >= 0.84, $"test accuracy {acc:P2}");
        Assert.Equal(3 * 469, m.GetProperty("steps").GetInt32());
    }

    [Fact]
    [Trait(TestTiers.Category, TestTiers.Integration)]
    public void The_default_run_reaches_87_percent_within_5_epochs()
    {
        var m = Train();
        double acc = m.GetProperty("test_accuracy").GetDouble();
        Assert.True(acc >= 0.87, $"test accuracy {acc:P2}");
        Assert.Equal(5, m.GetProperty("epochs").GetInt32());
    }

    [Fact]
    [Trait(TestTiers.Category, TestTiers.EndToEnd)]
    public void A_coordinator_with_two_worker_processes_reaches_85_percent_in_3_epochs()
    {
        var m = Train("--layers", "784,256,128,10", "--epochs", "3", "--batch", "256", "--spawn-workers", "2");
        double acc = m.GetProperty("test_accuracy").GetDouble();
        Assert.True(acc >= 0.85, $"test accuracy {acc:P2}");
        Assert.Equal("multi-process", m.GetProperty("mode").GetString());
        Assert.Equal(2, m.GetProperty("workers").GetInt32());
    }
}
