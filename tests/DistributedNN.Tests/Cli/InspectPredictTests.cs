using System.Text;

namespace DistributedNN.Tests.Cli;

/// <summary>`dnn inspect` and `dnn predict` on a model trained here.</summary>
public sealed class InspectPredictTests : IClassFixture<InspectPredictTests.TrainedModelFixture>, IDisposable
{
    private readonly TrainedModelFixture _model;
    private readonly DistributedNN.Tests.TempDirectory _dir = new();

    public InspectPredictTests(TrainedModelFixture model) => _model = model;

    public void Dispose() => _dir.Dispose();

    /// <summary>One short Fashion-MNIST run for all the tests here.</summary>
    public sealed class TrainedModelFixture : IDisposable
    {
        private readonly DistributedNN.Tests.TempDirectory _dir = new();
        public string Path { get; }

        public TrainedModelFixture()
        {
            Path = _dir.File("model.dnn");
            var (exit, _, err) = CliRunner.Run("train", "--epochs", "1", "--train-limit", "5000", "--save", Path);
            Assert.True(exit == 0, err);
        }

        public void Dispose() => _dir.Dispose();
    }

    [Fact]
    public void Inspect_shows_every_layer_its_shapes_and_the_parameter_count()
    {
        var (exit, output, err) = CliRunner.Run("inspect", _model.Path);
        Assert.True(exit == 0, err);
        Assert.Contains("784-256-128-10", output);
        Assert.Matches(@"1 dense\s+784\s+256\s+relu\s+256×784\s+256\s+200,960", output);
        Assert.Matches(@"3 dense\s+128\s+10\s+softmax\s+10×128\s+10\s+1,290", output);
        Assert.Contains("parameters  235,146", output);
        Assert.Matches("sha256      [0-9a-f]{64}", output);

        (exit, _, err) = CliRunner.Run("inspect", _dir.File("missing.dnn"));
        Assert.Equal(1, exit);
        Assert.StartsWith("error: ", err);
        Assert.Single(err.Trim().Split('\n'));
    }

    [Fact]
    public void Predict_on_the_data_set_agrees_with_the_true_labels_mostly_and_names_the_classes()
    {
        var (exit, output, err) = CliRunner.Run("predict", _model.Path, "/usr/share/datasets/fashion-mnist", "--limit", "50", "--labels", "fashion-mnist", "--top", "2");
        Assert.True(exit == 0, err);
        var lines = output.Trim().Split('\n');
        Assert.Equal(51, lines.Length);
        Assert.StartsWith("fashion-mnist test[0]: Ankle boot", lines[0]); // the first test image is an ankle boot
        var summary = System.Text.RegularExpressions.Regex.Match(lines[^1], @"^(\d+) of 50 right");
        Assert.True(summary.Success, lines[^1]);
        Assert.True(int.Parse(summary.Groups[1].Value) >= 30, lines[^1]); // one short epoch: ~75%
    }

    [Fact]
    public void Predict_on_a_PGM_image_gives_the_prediction_of_the_same_sample_in_the_data_set()
    {
        var test = DistributedNN.Data.DataSource.Load(null).Test;
        string[] images = new string[3];
        for (int i = 0; i < images.Length; i++)
        {
            images[i] = _dir.File($"sample{i}.pgm");
            var pixels = test.Sample(i).ToArray().Select(x => (byte)Math.Round(x * 255)).ToArray();
            File.WriteAllBytes(images[i], [.. Encoding.ASCII.GetBytes("P5\n28 28\n255\n"), .. pixels]);
        }
        var (exit, fromImages, err) = CliRunner.Run(["predict", _model.Path, .. images, "--labels", "fashion-mnist"]);
        Assert.True(exit == 0, err);
        var (_, fromData, _) = CliRunner.Run("predict", _model.Path, "/usr/share/datasets/fashion-mnist", "--limit", "3", "--labels", "fashion-mnist");
        var imageLines = fromImages.Trim().Split('\n');
        var dataLines = fromData.Trim().Split('\n');
        for (int i = 0; i < images.Length; i++)
        {
            // the same label and probabilities: "NAME: LABEL  [p…]" after the name
            string Tail(string line) => line[(line.IndexOf(": ", StringComparison.Ordinal) + 2)..].Split("  (true")[0];
            Assert.Equal(Tail(dataLines[i]), Tail(imageLines[i]));
        }
    }

    [Theory]
    [InlineData("png")]  // lossless: the very pixels, so the very probabilities
    [InlineData("jpeg")] // quality 100: each pixel within a few levels (1 here), the probabilities within 0.01 (2e-4 here)
    public void Predict_on_a_PNG_or_JPEG_image_gives_the_prediction_of_the_same_sample_in_the_data_set(string format)
    {
        const int samples = 3;
        var test = DistributedNN.Data.DataSource.Load(null).Test;
        string[] images = new string[samples];
        for (int i = 0; i < samples; i++)
        {
            var pixels = test.Sample(i).ToArray().Select(x => (byte)Math.Round(x * 255)).ToArray();
            images[i] = _dir.File($"sample{i}.{format}");
            File.WriteAllBytes(images[i], Encode(pixels, format));
            // a real file of that format, which the decoder `predict` uses reads back as those pixels (JPEG: nearly)
            var decoded = StbImageSharp.ImageResult.FromMemory(File.ReadAllBytes(images[i]), StbImageSharp.ColorComponents.Grey);
            Assert.Equal((28, 28), (decoded.Width, decoded.Height));
            int worst = pixels.Zip(decoded.Data, (a, b) => Math.Abs(a - b)).Max();
            Assert.True(format == "png" ? worst == 0 : worst <= 4, $"{format}: a pixel is {worst} levels off");
        }
        byte[] signature = format == "png" ? [0x89, (byte)'P', (byte)'N', (byte)'G'] : [0xFF, 0xD8, 0xFF];
        Assert.All(images, image => Assert.Equal(signature, File.ReadAllBytes(image)[..signature.Length]));

        var (exit, fromImages, err) = CliRunner.Run(["predict", _model.Path, .. images, "--labels", "fashion-mnist", "--top", "10"]);
        Assert.True(exit == 0, err);
        var (_, fromData, _) = CliRunner.Run("predict", _model.Path, "/usr/share/datasets/fashion-mnist", "--limit", $"{samples}", "--labels", "fashion-mnist", "--top", "10");
        var imageLines = fromImages.Trim().Split('\n');
        var dataLines = fromData.Trim().Split('\n');
        Assert.Equal(samples, imageLines.Length);
        for (int i = 0; i < samples; i++)
        {
            var (label, probabilities) = Prediction(imageLines[i]);
            var (expectedLabel, expected) = Prediction(dataLines[i]);
            Assert.StartsWith($"{images[i]}: ", imageLines[i]);
            Assert.Equal(expectedLabel, label);
            Assert.Equal(expected.Keys.Order(), probabilities.Keys.Order()); // all ten classes
            foreach (var (name, p) in expected)
                Assert.True(Math.Abs(p - probabilities[name]) <= (format == "png" ? 0 : 0.01), $"{format} sample {i}: p({name}) {probabilities[name]} against {p} from the data set");
        }
    }

    /// <summary>An 8-bit grayscale 28×28 image file, encoded by SkiaSharp (the library ScottPlot draws the run's plots with).</summary>
    private static byte[] Encode(byte[] pixels, string format)
    {
        var info = new SkiaSharp.SKImageInfo(28, 28, SkiaSharp.SKColorType.Gray8, SkiaSharp.SKAlphaType.Opaque);
        using var image = SkiaSharp.SKImage.FromPixelCopy(info, pixels);
        using var data = image.Encode(format == "png" ? SkiaSharp.SKEncodedImageFormat.Png : SkiaSharp.SKEncodedImageFormat.Jpeg, 100);
        return data.ToArray();
    }

    /// <summary>"NAME: LABEL  [CLASS P  CLASS P …]…" → the label and each class's probability.</summary>
    private static (string Label, Dictionary<string, double> Probabilities) Prediction(string line)
    {
        var match = System.Text.RegularExpressions.Regex.Match(line, @": (?<label>[^:\[]+?)  \[(?<shown>[^\]]+)\]");
        Assert.True(match.Success, line);
        var probabilities = match.Groups["shown"].Value.Split("  ").Select(pair => pair.Trim()).ToDictionary(
            pair => pair[..pair.LastIndexOf(' ')], pair => double.Parse(pair[(pair.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture));
        return (match.Groups["label"].Value, probabilities);
    }

    [Fact]
    public void Bad_images_and_options_are_one_line_errors()
    {
        string small = _dir.File("small.pgm");
        File.WriteAllBytes(small, [.. Encoding.ASCII.GetBytes("P5\n4 4\n255\n"), .. new byte[16]]);
        string junk = _dir.File("junk.png");
        File.WriteAllBytes(junk, Encoding.ASCII.GetBytes("this is not a png"));
        foreach (var (args, message) in new (string[], string)[]
        {
            ([small], "is 4×4 = 16 pixels but the model takes 784 inputs"),
            ([junk], "not an image this can read"),
            ([_dir.File("none.png")], "does not exist"),
            ([small, "--labels", "a,b"], "--labels gives 2 names but the model has 10 classes"),
            ([small, "--top", "0"], "--top must be at least 1"),
        })
        {
            var (exit, _, err) = CliRunner.Run(["predict", _model.Path, .. args]);
            Assert.Equal(1, exit);
            Assert.Contains(message, err);
            Assert.Single(err.Trim().Split('\n'));
        }
    }
}
