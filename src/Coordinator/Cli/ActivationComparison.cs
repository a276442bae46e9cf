using System.Globalization;
using DistributedNN.Model;
using DistributedNN.Training;
using ScottPlot; // the Multiplot extension methods

namespace DistributedNN.Coordinator.Cli;

/// <summary>
/// <c>dnn train --compare-activations sigmoid,relu</c>: the same network (layers, seed, data, optimizer,
/// epochs) trained in this process once per hidden activation, each into its own run folder
/// <c>&lt;out&gt;/&lt;activation&gt;/</c>, then <c>gradient-norms-compare.png</c>: each run's per-layer gradient
/// norms in a panel of its own, every panel on the same log10 scale. Backprop multiplies δ by a'(z)
/// once per layer on its way down; σ' ≤ ¼ makes a deep sigmoid stack's first layers' gradients
/// decades smaller than its last's, where ReLU's a' = 1 (on active units) keeps them of one size.
/// </summary>
internal static class ActivationComparison
{
    public const string PlotFile = "gradient-norms-compare.png";

    public static int Execute(TrainRequest r, TextWriter stdout, TextWriter stderr)
    {
        var activations = ParseList(r.CompareActivations!);
        CheckCombination(r);
        string dir = RunFolder.Prepare(r.Out ?? RunFolder.DefaultPath());

        var runs = new List<ComparedRun>();
        foreach (var activation in activations)
        {
            string name = activation.Name();
            string runDir = Path.Combine(dir, name);
            stdout.WriteLine($"compare {name}: training into {runDir}");
            try
            {
                TrainRun.Execute(r with { Activation = name, Out = runDir, CompareActivations = null, Save = null, MetricsOut = null }, stdout, stderr, out var trained);
                runs.Add(new ComparedRun(name, trained.Spec, trained.Epochs));
            }
            catch (TrainingDivergedException e)
            {
                throw new TrainingDivergedException($"--compare-activations, the {name} run: {e.Message}");
            }
        }

        string path = Path.Combine(dir, PlotFile);
        string? noPlot = RunFolder.TryDraw(() => WritePlot(path, runs));
        foreach (var run in runs) stdout.WriteLine(Summary(run));
        if (noPlot is null) stdout.WriteLine($"plot    {path}");
        else stderr.WriteLine($"warning: no {PlotFile} in {dir}: {noPlot} (install a font, e.g. apt-get install fonts-dejavu-core)");
        return DnnCli.Ok;
    }

    /// <summary>One finished run of the comparison.</summary>
    private sealed record ComparedRun(string Activation, NetworkSpec Spec, IReadOnlyList<EpochResult> Epochs);

    /// <exception cref="UserErrorException">Fewer than two activations, an unknown one, or one given twice.</exception>
    internal static IReadOnlyList<Activation> ParseList(string text)
    {
        var activations = new List<Activation>();
        foreach (string part in text.Split(',', StringSplitOptions.TrimEntries))
        {
            if (!Activations.TryParse(part, out var a) || a == Activation.Softmax)
                throw new UserErrorException($"--compare-activations '{text}': '{part}' is not one of {Activations.HiddenNames}");
            if (activations.Contains(a))
                throw new UserErrorException($"--compare-activations '{text}': {a.Name()} is given twice");
            activations.Add(a);
        }
        if (activations.Count < 2)
            throw new UserErrorException($"--compare-activations '{text}' needs at least two activations to compare, e.g. sigmoid,relu");
        return activations;
    }

    /// <exception cref="UserErrorException">An option that has no meaning for runs trained one after another into folders of their own.</exception>
    private static void CheckCombination(TrainRequest r)
    {
        if (r.ActivationGiven)
            throw new UserErrorException($"--compare-activations gives the hidden activations: drop --activation {r.Activation}");
        if (r.Distributed || r.Tls is not null)
            throw new UserErrorException("--compare-activations trains each activation in this process: drop --workers, --spawn-workers, --min-workers and --tls-cert");
        if (r.Epochs == 0)
            throw new UserErrorException("--compare-activations compares training runs: --epochs must be at least 1");
        if (r.ModelSpec is not null)
            throw new UserErrorException("--compare-activations swaps the hidden activation of a --layers stack; a --model-spec sets each layer's own");
        if (r.Resume is not null)
            throw new UserErrorException("--compare-activations cannot --resume: --resume continues one checkpointed run, the comparison starts one new run per activation");
        if (r.Save is not null)
            throw new UserErrorException("--compare-activations with --save: each activation has its own run folder with its own model.dnn (<out>/<activation>/model.dnn); drop --save");
        if (r.MetricsOut is not null)
            throw new UserErrorException("--compare-activations with --metrics-out: each activation has its own run folder with its own metrics.json (<out>/<activation>/metrics.json); drop --metrics-out");
        if (r.CheckpointDir is not null)
            throw new UserErrorException("--compare-activations with --checkpoint-dir: every activation's run would write its checkpoints into the same folder; drop --checkpoint-dir");
    }

    /// <summary>e.g. "compare sigmoid: first-layer gradient norm is 2.1e-05× the last layer's (4.7 decades below, final epoch); test accuracy 79.1%".</summary>
    private static string Summary(ComparedRun run)
    {
        var last = run.Epochs[^1];
        double ratio = last.GradientNorms[0] / last.GradientNorms[^1];
        string size = ratio >= 0.01 && ratio < 1000
            ? ratio.ToString("0.##", CultureInfo.InvariantCulture)
            : ratio.ToString("0.0e+00", CultureInfo.InvariantCulture);
        double decades = Math.Log10(ratio);
        return string.Format(CultureInfo.InvariantCulture,
            "compare {0}: first-layer gradient norm is {1}× the last layer's ({2:0.0} decades {3}, final epoch); test accuracy {4:F1}%",
            run.Activation, size, Math.Abs(decades), decades <= 0 ? "below" : "above", last.TestAccuracy * 100);
    }

    /// <summary>One <see cref="RunFolder.GradientNormsPlot"/> panel per run, side by side, on one y range.</summary>
    private static void WritePlot(string path, IReadOnlyList<ComparedRun> runs)
    {
        // Whole decades that hold every run's every point: the same range in each panel, so the gap
        // between two panels' lines is the gap between their gradients.
        var values = runs.SelectMany(run => run.Epochs.SelectMany(e => e.GradientNorms)).Select(RunFolder.Log10Norm).ToArray();
        double bottom = Math.Floor(values.Min()), top = Math.Ceiling(values.Max());
        if (top == bottom) top += 1;

        var multiplot = new ScottPlot.Multiplot();
        multiplot.RemovePlot(multiplot.GetPlot(0)); // it starts with an empty one
        multiplot.Layout = new ScottPlot.MultiplotLayouts.Columns();
        foreach (var run in runs)
        {
            var panel = RunFolder.GradientNormsPlot(run.Spec, run.Epochs, $"{run.Activation}: gradient norm per layer");
            panel.Axes.SetLimitsY(bottom, top);
            multiplot.AddPlot(panel);
        }
        multiplot.SavePng(path, RunFolder.PlotWidth * runs.Count, RunFolder.PlotHeight);
    }
}
