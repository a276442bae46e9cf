using System.Text.Json;
using DistributedNN.Tests.Cli;
using DistributedNN.Tests.Data;

namespace DistributedNN.Tests.Distributed;

/// <summary>An image folder trained with crops and flips on two in-process workers over tcp ends with the one-process
/// weights: each worker loads the folder itself (the same fingerprint) and augments its shards' pixels as one process would.</summary>
[Trait(TestTiers.Category, TestTiers.Integration)]
public sealed class ImageFolderWorkersTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Workers_train_an_augmented_image_folder_to_the_one_process_weights()
    {
        string root = ImageFolderTests.Write(_dir.File("fashion"), 320);
        string spec = _dir.File("cnn.json");
        File.WriteAllText(spec, """
            { "input": [1, 28, 28], "layers": [ { "type": "conv", "filters": 4, "kernel": 5, "stride": 2, "activation": "identity" },
                { "type": "batchnorm", "activation": "relu" }, { "type": "globalavgpool" }, { "type": "dense", "units": 10 } ] }
            """);
        string Hash(string name, params string[] more)
        {
            string metrics = _dir.File(name + ".json");
            var (exit, output, err) = CliRunner.Run(["train", "--data", root, "--model-spec", spec, "--epochs", "2", "--batch", "32", "--lr", "0.01",
                "--random-crop", "2", "--random-flip", "--label-smoothing", "0.1", "--metrics-out", metrics, "--out", _dir.File(name), .. more]);
            Assert.True(exit == 0, $"{name}: {err}\n{output}");
            return JsonDocument.Parse(File.ReadAllText(metrics)).RootElement.GetProperty("weights_sha256").GetString()!;
        }
        Assert.Equal(Hash("one"), Hash("workers", "--workers", "2", "--transport", "tcp"));
    }
}
