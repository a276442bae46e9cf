using DistributedNN.Coordinator.Cli;
using DistributedNN.Model;
using DistributedNN.Tests.Distributed;
using DistributedNN.Training;
using Spectre.Console.Testing;

namespace DistributedNN.Tests.Cli;

/// <summary>The live progress display (rendered by Spectre.Console into a test console) and the plain fallback.</summary>
public sealed class TrainingViewTests
{
    private static (NetworkSpec Spec, float[] Parameters, TrainingSettings Settings) Small()
    {
        var spec = NetworkSpec.FromSizes([4, 8, 2], Activation.Tanh, Activation.Softmax, LossKind.CrossEntropy);
        var p = new float[spec.ParameterCount];
        Initializer.Initialize(spec, p, InitScheme.Xavier, 1);
        return (spec, p, new TrainingSettings(Epochs: 3, BatchSize: 16, Shards: 2, Seed: 1, Shuffle: true, new OptimizerSettings(OptimizerKind.Adam, 0.02f)));
    }

    [Fact]
    public void The_live_view_renders_a_bar_per_epoch_with_its_figures()
    {
        var data = TestData.Load();
        var (spec, p, settings) = Small();
        var console = new TestConsole().Interactive().EmitAnsiSequences().Width(120);
        var view = new TrainingView.Live(console, settings.Epochs);
        int steps = 0;
        var results = view.Run(() => new LocalTrainer(spec, p, settings).Train(data.Train, data.Data.Test, view.Epoch, afterStep: (s, _, ended) =>
        {
            if (!ended) { view.Step(s, 0); steps++; }
        }));
        Assert.Equal(3, results.Count);
        Assert.True(steps > 3);
        string output = console.Output;
        foreach (var r in results)
            Assert.Contains($"epoch {r.Epoch}/3 loss {r.TrainLoss.ToString("F4", System.Globalization.CultureInfo.InvariantCulture)}", output);
        Assert.Contains("100%", output);
        Assert.Contains("\u001b[", output); // drawn with ANSI sequences, as on a terminal
    }

    [Fact]
    public void The_plain_view_writes_one_line_per_epoch_and_auto_picks_it_when_output_is_not_a_terminal()
    {
        var data = TestData.Load();
        var (spec, p, settings) = Small();
        var writer = new StringWriter();
        var view = TrainingView.For("auto", writer, settings.Epochs);
        Assert.IsType<TrainingView.Plain>(view);
        view.Run(() => new LocalTrainer(spec, p, settings).Train(data.Train, data.Data.Test, view.Epoch, afterStep: (s, _, ended) => view.Step(s, 0)));
        var lines = writer.ToString().Trim().Split('\n');
        Assert.Equal(3, lines.Length);
        Assert.All(lines, l => Assert.Matches(@"^epoch \d/3  loss [0-9.]+  train_acc", l));
        Assert.DoesNotContain("\u001b[", writer.ToString());
        Assert.Throws<UserErrorException>(() => TrainingView.For("fancy", writer, 3));
    }
}
