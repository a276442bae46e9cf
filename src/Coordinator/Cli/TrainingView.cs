using DistributedNN.Model;
using System.Diagnostics;
using System.Globalization;
using DistributedNN.Training;
using Spectre.Console;

namespace DistributedNN.Coordinator.Cli;

/// <summary>
/// What `train` shows while it runs: on a terminal a live Spectre.Console progress bar per epoch (loss and
/// accuracy so far, samples/s, workers, step); elsewhere (CI, logs, a pipe) one plain line per epoch.
/// Training runs inside <see cref="Run{T}"/>; <see cref="Step"/> may be called from any thread.
/// </summary>
internal abstract class TrainingView
{
    public abstract T Run<T>(Func<T> train);
    public abstract void Step(TrainingState state, int workers);
    public abstract void Epoch(EpochResult result);

    /// <summary>Live when <paramref name="stdout"/> is this process's console and that is an interactive terminal.</summary>
    public static TrainingView For(string mode, TextWriter stdout, int epochs, NetworkSpec? spec = null) => mode switch
    {
        "plain" => new Plain(stdout, epochs, spec),
        "live" => new Live(AnsiConsole.Console, epochs),
        "auto" => ReferenceEquals(stdout, Console.Out) && !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive
            ? new Live(AnsiConsole.Console, epochs) : new Plain(stdout, epochs, spec),
        _ => throw new UserErrorException($"--progress '{mode}' is not one of auto, live, plain"),
    };

    /// <summary>An epoch's line: loss, accuracies (the validation set's too, when the run holds one out), speed, time and per-layer gradient norms.</summary>
    /// <param name="spec">when given, layers without parameters show "-" for their (absent) gradient norm</param>
    public static string FormatEpoch(EpochResult e, int epochs, NetworkSpec? spec = null) => string.Format(CultureInfo.InvariantCulture,
        "epoch {0}/{1}  loss {2:F4}  train_acc {3:P2}  {9}test_loss {4:F4}  test_acc {5:P2}  {6:N0} samples/s  {7:F2} s  grad_norms [{8}]",
        e.Epoch, epochs, e.TrainLoss, e.TrainAccuracy, e.TestLoss, e.TestAccuracy, e.SamplesPerSecond, e.TrainSeconds,
        string.Join(" ", e.GradientNorms.Select((n, l) => spec?.Layers[l].HasParameters == false ? "-" : n.ToString("0.###e0", CultureInfo.InvariantCulture))),
        e.ValidationLoss is { } loss ? string.Format(CultureInfo.InvariantCulture, "val_loss {0:F4}  val_acc {1:P2}  ", loss, e.ValidationAccuracy) : "");

    /// <summary>One line per epoch (<see cref="FormatEpoch"/>).</summary>
    public sealed class Plain(TextWriter stdout, int epochs, NetworkSpec? spec = null) : TrainingView
    {
        public override T Run<T>(Func<T> train) => train();
        public override void Step(TrainingState state, int workers) { }
        public override void Epoch(EpochResult result) => stdout.WriteLine(FormatEpoch(result, epochs, spec));
    }

    /// <summary>A Spectre.Console progress display: one task per epoch, described with the running figures.</summary>
    public sealed class Live(IAnsiConsole console, int epochs) : TrainingView
    {
        private readonly Lock _gate = new();
        private ProgressContext? _context;
        private ProgressTask? _task;
        private int _epoch = -1;
        private readonly Stopwatch _clock = new();
        /// <summary>When the description was last rewritten: the display redraws ~10 times a second, steps come far faster.</summary>
        private TimeSpan _described;

        public override T Run<T>(Func<T> train)
        {
            T result = default!;
            console.Progress()
                .AutoClear(false)
                .HideCompleted(false)
                .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
                .Start(context =>
                {
                    _context = context;
                    result = train();
                });
            return result;
        }

        public override void Step(TrainingState state, int workers)
        {
            lock (_gate)
            {
                if (_context is null) return;
                var stats = state.EpochStats;
                if (state.StepInEpoch == 0 || state.StepInEpoch >= state.Plan.StepsPerEpoch) return; // an epoch's last step: Epoch() reports it
                if (state.Epoch != _epoch || _task is null)
                {
                    _epoch = state.Epoch;
                    _task = _context.AddTask(Describe(state.Epoch, 0, 0, 0, workers, 0, state.Plan.StepsPerEpoch), maxValue: state.Plan.StepsPerEpoch);
                    _clock.Restart();
                    _described = TimeSpan.FromSeconds(-1); // describe the first step at once
                }
                _task.Value = state.StepInEpoch;
                if (_clock.Elapsed - _described < TimeSpan.FromMilliseconds(100)) return;
                _described = _clock.Elapsed;
                double seconds = System.Math.Max(_clock.Elapsed.TotalSeconds, 1e-9);
                _task.Description = Describe(state.Epoch, stats.Count == 0 ? 0 : stats.LossSum / stats.Count, stats.Count == 0 ? 0 : (double)stats.Correct / stats.Count,
                    stats.Count / seconds, workers, state.StepInEpoch, state.Plan.StepsPerEpoch);
            }
        }

        public override void Epoch(EpochResult result)
        {
            lock (_gate)
            {
                if (_context is null) return;
                if (_task is null || _epoch != result.Epoch - 1)
                    _task = _context.AddTask("", maxValue: 1);
                _task.Description = Markup.Escape(string.Format(CultureInfo.InvariantCulture, "epoch {0}/{1} loss {2:F4} acc {3:P1} {6}test {4:P1} {5:N0}/s",
                    result.Epoch, epochs, result.TrainLoss, result.TrainAccuracy, result.TestAccuracy, result.SamplesPerSecond,
                    result.ValidationLoss is { } loss ? string.Format(CultureInfo.InvariantCulture, "val {0:F4} {1:P1} ", loss, result.ValidationAccuracy) : ""));
                _task.Value = _task.MaxValue;
                _task.StopTask();
                _task = null;
                _epoch = result.Epoch;
            }
        }

        private string Describe(int epoch, double loss, double accuracy, double samplesPerSecond, int workers, int step, int steps) =>
            Markup.Escape(string.Format(CultureInfo.InvariantCulture, "epoch {0}/{1} loss {2:F4} acc {3:P1} {4:N0}/s {5}step {6}/{7}",
                epoch + 1, epochs, loss, accuracy, samplesPerSecond, workers == 0 ? "" : $"{workers} workers ", step, steps));
    }
}
