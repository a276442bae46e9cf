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
