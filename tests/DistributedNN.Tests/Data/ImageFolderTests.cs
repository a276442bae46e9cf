using DistributedNN.Data;
using DistributedNN.Serialization;
using DistributedNN.Tests.Cli;
using StbImageWriteSharp;

namespace DistributedNN.Tests.Data;

/// <summary>
/// A folder-per-class image data set (torchvision's ImageFolder), written as PNGs from the Fashion-MNIST test set: loaded
/// with the IDX reader's very pixels, class names from the folders, trained, evaluated and predicted end to end with
/// augmentation; bad folders and files are one-line errors naming them.
/// </summary>
public sealed class ImageFolderTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    public void Dispose() => _dir.Dispose();

    internal static readonly string[] Names = ["tshirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"];

    /// <summary>The first <paramref name="count"/> Fashion-MNIST test images as grayscale PNGs: 80% under train/, the rest under test/.</summary>
    internal static string Write(string root, int count, bool colour = false)
    {
        var idx = DataSource.Load(null).Test;
        var writer = new ImageWriter();
        for (int i = 0; i < count; i++)
        {
            string part = i % 5 == 4 ? "test" : "train";
            string folder = Path.Combine(root, part, Names[idx.Labels[i]]);
            Directory.CreateDirectory(folder);
            var gray = idx.Sample(i).ToArray().Select(v => (byte)Math.Round(v * 255)).ToArray();
            byte[] pixels = colour ? gray.SelectMany(g => new[] { g, g, (byte)(255 - g) }).ToArray() : gray;
            using var file = File.Create(Path.Combine(folder, $"{i:D5}.png"));
            writer.WritePng(pixels, 28, 28, colour ? ColorComponents.RedGreenBlue : ColorComponents.Grey, file);
        }
        return root;
    }

    [Fact]
    public void The_pixels_are_the_IDX_readers_and_the_classes_the_folders()
    {
        string root = Write(_dir.File("fashion"), 200);
        var data = DataSource.Load(root);
        var idx = DataSource.Load(null).Test;
        Assert.Equal(784, data.Train.FeatureCount);
        Assert.Equal(160, data.Train.Count);
        Assert.Equal(40, data.Test.Count);
        var classes = Names.Where(n => Directory.Exists(Path.Combine(root, "train", n))).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(classes, data.Input!.Classes);
        Assert.Equal(255f, data.Input.Scale);
        // test/ holds images 4, 9, 14, …: in class-folder order, each with the IDX reader's pixels
        var byClass = Enumerable.Range(0, 200).Where(i => i % 5 == 4).OrderBy(i => Array.IndexOf(classes, Names[idx.Labels[i]])).ThenBy(i => i).ToArray();
        for (int k = 0; k < byClass.Length; k++)
        {
            Assert.Equal(idx.Sample(byClass[k]).ToArray(), data.Test.Sample(k).ToArray());
            Assert.Equal(classes[data.Test.Labels[k]], Names[idx.Labels[byClass[k]]]);
        }
    }

    [Fact]
    public void Colour_images_load_as_three_channels_and_a_size_resizes_them()
    {
        string root = Write(_dir.File("colour"), 40, colour: true);
        var data = DataSource.Load(root, new DataSourceOptions { ImageSize = "14x14" });
        Assert.Equal(3 * 14 * 14, data.Train.FeatureCount);
        // the third channel is the first's negative, at half the size too (bilinear of 255 − g is 255 − bilinear of g, to rounding)
        var s = data.Train.Sample(0).ToArray();
        for (int p = 0; p < 196; p++) Assert.InRange(s[p] + s[392 + p], 1f - 1.5f / 255, 1f + 1.5f / 255);

        // a colour model at 14×14 (its spec's input) trains on the folder and predicts one of its 28×28 PNGs, resized the same way
        string spec = _dir.File("colour.json");
        File.WriteAllText(spec, """{ "input": [3, 14, 14], "layers": [ { "type": "conv", "filters": 2, "kernel": 3 }, { "type": "globalavgpool" }, { "type": "dense", "units": 10 } ] }""");
        string model = _dir.File("colour.dnn");
        var (exit, _, err) = CliRunner.Run("train", "--data", root, "--model-spec", spec, "--epochs", "1", "--batch", "8", "--save", model, "--out", _dir.File("r"));
        Assert.True(exit == 0, err);
        string png = Directory.GetFiles(Path.Combine(root, "train"), "*.png", SearchOption.AllDirectories)[0];
        (exit, var predicted, err) = CliRunner.Run("predict", model, png, "--top", "1");
        Assert.True(exit == 0, err);
        Assert.StartsWith($"{png}: ", predicted);
    }

    [Fact]
    public void A_folder_trains_evaluates_and_predicts_end_to_end_with_its_class_names()
    {
        string root = Write(_dir.File("fashion"), 400);
        string spec = _dir.File("cnn.json");
        File.WriteAllText(spec, """
            { "input": [1, 28, 28], "layers": [ { "type": "conv", "filters": 4, "kernel": 5, "stride": 2, "activation": "identity" },
                { "type": "batchnorm", "activation": "relu" }, { "type": "globalavgpool" }, { "type": "dense", "units": 10 } ] }
            """);
        string model = _dir.File("m.dnn");
        var (exit, output, err) = CliRunner.Run("train", "--data", root, "--model-spec", spec, "--epochs", "2", "--batch", "32", "--lr", "0.01",
            "--random-crop", "2", "--random-flip", "--save", model, "--out", _dir.File("run"));
        Assert.True(exit == 0, err);
        Assert.Contains($"data    {root}: 320 training, 80 test samples, 784 features", output);
        (exit, var evaluated, err) = CliRunner.Run("evaluate", model, "--data", root);
        Assert.True(exit == 0, err);
        Assert.Contains("(80 samples)", evaluated);
        string shoe = Directory.GetFiles(Path.Combine(root, "test", "sneaker"))[0];
        (exit, var predicted, err) = CliRunner.Run("predict", model, shoe);
        Assert.True(exit == 0, err);
        Assert.Matches($"^{System.Text.RegularExpressions.Regex.Escape(shoe)}: ({string.Join("|", Names)}) ", predicted);
        (exit, predicted, err) = CliRunner.Run("predict", model, root, "--limit", "3");
        Assert.True(exit == 0, err);
        Assert.Contains("(true: bag", predicted); // test/bag/… is the first test class folder in ordinal order
    }

    [Theory]
    [InlineData("empty-train")]
    [InlineData("unknown-test-class")]
    [InlineData("bad-image")]
    [InlineData("bad-size")]
    public void A_bad_folder_is_a_one_line_error_naming_it(string what)
    {
        string root = _dir.File(what);
        string expected;
        switch (what)
        {
            case "empty-train":
                Directory.CreateDirectory(Path.Combine(root, "train"));
                Directory.CreateDirectory(Path.Combine(root, "test"));
                expected = $"{Path.Combine(root, "train")}: no class folders";
                break;
            case "unknown-test-class":
                Write(root, 200);
                Directory.CreateDirectory(Path.Combine(root, "test", "zebra"));
                expected = $"{Path.Combine(root, "test")}/zebra: a test class that train/ does not have";
                break;
            case "bad-image":
                Write(root, 200);
                string bad = Path.Combine(root, "train", "bag", "broken.png");
                Directory.CreateDirectory(Path.GetDirectoryName(bad)!);
                File.WriteAllText(bad, "not a png");
                expected = $"{bad}: not an image this can read";
                break;
            default:
                Write(root, 20);
                var (exitSize, _, errSize) = CliRunner.Run("train", "--data", root, "--layers", "784,10", "--image-size", "28by28", "--out", _dir.File("r"));
                Assert.Equal(1, exitSize);
                Assert.Equal("error: --image-size '28by28' must be a width×height such as 28x28, or one number for a square (1 to 4096)", errSize.Trim());
                return;
        }
        var (exit, _, err) = CliRunner.Run("train", "--data", root, "--layers", "784,10", "--out", _dir.File("r"));
        Assert.Equal(1, exit);
        Assert.True(err.Trim().StartsWith($"error: {expected}"), err);
        Assert.Single(err.Trim().Split('\n'));
    }
}
