using System.Text.Json;
using StbImageSharp;

namespace DistributedNN.Tests.Cli;

/// <summary>What a run leaves in its folder: model, metrics, CSV and three PNG plots of the expected size.</summary>
public sealed class RunFolderTests : IDisposable
{
    private readonly DistributedNN.Tests.TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void A_run_writes_its_model_metrics_csv_and_valid_plots()
    {
        string run = _dir.File("run");
        var (exit, output, err) = CliRunner.Run("train", "--layers", "784,32,16,10", "--activation", "sigmoid", "--epochs", "3", "--train-limit", "3000", "--out", run);
        Assert.True(exit == 0, err);
        Assert.Contains($"run     {run} (model.dnn, metrics.json, epochs.csv, steps.csv, train.log, loss.png, accuracy.png, gradient-norms.png)", output);
        Assert.DoesNotContain("warning", err);

        foreach (var plot in new[] { "loss.png", "accuracy.png", "gradient-norms.png" })
        {
            using var stream = File.OpenRead(Path.Combine(run, plot));
            var image = ImageResult.FromStream(stream, ColorComponents.RedGreenBlue); // throws unless it is a readable PNG
            Assert.Equal((800, 500), (image.Width, image.Height));
            Assert.True(image.Data.Distinct().Count() > 2, $"{plot} is blank"); // lines, text and a background
        }

        var csv = File.ReadAllLines(Path.Combine(run, "epochs.csv"));
        const string layerColumns = "grad_norm_layer1,grad_norm_layer2,grad_norm_layer3,update_ratio_layer1,update_ratio_layer2,update_ratio_layer3,saturated_layer1,saturated_layer2";
        Assert.Equal("epoch,steps,train_loss,train_accuracy,test_loss,test_accuracy,train_seconds,samples_per_second," + layerColumns, csv[0]);
        Assert.Equal(4, csv.Length);
        using var metrics = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "metrics.json")));
        var epochs = metrics.RootElement.GetProperty("per_epoch").EnumerateArray().ToArray();
        for (int e = 0; e < 3; e++)
        {
            var fields = csv[e + 1].Split(',');
            Assert.Equal(e + 1, int.Parse(fields[0]));
            Assert.Equal(epochs[e].GetProperty("test_accuracy").GetDouble(), double.Parse(fields[5], System.Globalization.CultureInfo.InvariantCulture));
            Assert.Equal(epochs[e].GetProperty("gradient_norms")[0].GetDouble(), double.Parse(fields[8], System.Globalization.CultureInfo.InvariantCulture));
        }
        // one row per step: 3,000 samples in batches of 64 = 47 steps per epoch
        var stepRows = File.ReadAllLines(Path.Combine(run, "steps.csv"));
        Assert.Equal("step,epoch,loss,accuracy,samples," + layerColumns, stepRows[0]);
        Assert.Equal(metrics.RootElement.GetProperty("steps").GetInt64() + 1, stepRows.Length);
        Assert.Equal(3 * 47, stepRows.Length - 1);
        Assert.StartsWith("47,1,", stepRows[47]);
        Assert.StartsWith("48,2,", stepRows[48]);
        // the epoch's train loss is the sample-weighted mean of its steps' losses
        var first = stepRows.Skip(1).Take(47).Select(l => l.Split(',')).ToArray();
        double weighted = first.Sum(f => double.Parse(f[2], System.Globalization.CultureInfo.InvariantCulture) * int.Parse(f[4])) / first.Sum(f => int.Parse(f[4]));
        Assert.Equal(epochs[0].GetProperty("train_loss").GetDouble(), weighted, 1e-9);
        var model = DistributedNN.Serialization.ModelLoader.Load(Path.Combine(run, "model.dnn"));
        Assert.Equal("784-32-16-10", string.Join("-", model.Spec.Layers.Select(l => l.Inputs).Append(10)));
    }

    [Fact]
    public void Without_out_a_new_folder_under_runs_is_made_and_a_file_in_the_way_is_an_error()
    {
        var (exit, output, err) = CliRunner.Run("train", "--data", DistributedNN.Tests.Distributed.TestData.Csv, "--layers", "4,8,2", "--epochs", "1");
        Assert.True(exit == 0, err);
        var match = System.Text.RegularExpressions.Regex.Match(output, @"run     (runs/\d{8}-\d{6}-[0-9a-f]{4}) ");
        Assert.True(match.Success, output);
        Assert.True(File.Exists(Path.Combine(match.Groups[1].Value, "model.dnn")));
        Directory.Delete(match.Groups[1].Value, recursive: true);

        string file = _dir.File("taken");
        File.WriteAllText(file, "");
        (exit, _, err) = CliRunner.Run("train", "--data", DistributedNN.Tests.Distributed.TestData.Csv, "--layers", "4,8,2", "--epochs", "1", "--out", file);
        Assert.Equal(1, exit);
        Assert.Contains($"--out {file}: is a file; give a folder", err);
    }
}
