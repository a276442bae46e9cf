using System.Globalization;
using System.Text;
using DistributedNN.Model;
using DistributedNN.Serialization;
using DistributedNN.Training;

namespace DistributedNN.Coordinator.Cli;

/// <summary>
/// What a run leaves behind in its folder (<c>--out DIR</c>, default <c>runs/&lt;UTC time&gt;</c>): the model
/// (<c>model.dnn</c>), the summary (<c>metrics.json</c>, as <c>--metrics-out</c>), the per-epoch metrics
/// (<c>epochs.csv</c>; with a validation split, its loss and accuracy too), the per-step metrics (<c>steps.csv</c>: batch loss and accuracy, per-layer gradient norms) and three plots: <c>loss.png</c> (train and test loss), <c>accuracy.png</c> (train and
/// test accuracy) and <c>gradient-norms.png</c> (each layer's gradient norm per epoch, log scale — where a
/// deep sigmoid network's vanishing gradient shows).
/// </summary>
internal static class RunFolder
{
    public const int PlotWidth = 800, PlotHeight = 500;
    public static readonly string[] Plots = ["loss.png", "accuracy.png", "gradient-norms.png"];
    public const string TextLog = "train.log", JsonLog = "train.jsonl";

    /// <summary>The files a run leaves besides the plots.</summary>
    public static IEnumerable<string> Files(RunFacts facts, bool jsonLog)
    {
        string[] always = ["model.dnn", "metrics.json", "epochs.csv", "steps.csv"];
        foreach (var f in always) yield return f;
        if (facts.WorkerStats is { Count: > 0 }) yield return "workers.csv";
        yield return jsonLog ? JsonLog : TextLog;
    }

    /// <summary>A fresh folder under runs/ named by the UTC time (and a short random suffix: runs may start together).</summary>
    public static string DefaultPath() =>
        Path.Combine("runs", DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture) + "-" + Guid.NewGuid().ToString("N")[..4]);

    /// <summary>Creates the folder (before training, so a folder that cannot be written stops the run at once).</summary>
    /// <exception cref="UserErrorException">It cannot be created or written.</exception>
    public static string Prepare(string path)
    {
        if (File.Exists(path)) throw new UserErrorException($"--out {path}: is a file; give a folder");
        TrainOutputs.CheckWritable(Path.Combine(path, "model.dnn"), "--out"); // creates the folder
        return path;
    }

    /// <summary>Writes the folder's files; returns null, or why the plots are missing (the rest is written first).</summary>
    public static string? Write(string dir, TrainedModel model, TrainingSettings settings, IReadOnlyList<EpochResult> epochs, long steps, RunFacts facts, StepLog? stepLog = null)
    {
        if (stepLog is not null) AtomicFile.Write(Path.Combine(dir, "steps.csv"), Encoding.UTF8.GetBytes(stepLog.ToCsv(model.Spec)));
        ModelFile.Save(Path.Combine(dir, "model.dnn"), model);
        RunMetrics.Write(Path.Combine(dir, "metrics.json"), model.Spec, settings, epochs, steps, facts);
        AtomicFile.Write(Path.Combine(dir, "epochs.csv"), Encoding.UTF8.GetBytes(EpochsCsv(model.Spec, epochs)));
        if (facts.WorkerStats is { Count: > 0 } workers)
            AtomicFile.Write(Path.Combine(dir, "workers.csv"), Encoding.UTF8.GetBytes(Coordinator.WorkerStatsTracker.Csv(workers)));
        return TryDraw(() => WritePlots(dir, model.Spec, epochs));
    }

    /// <summary>Runs <paramref name="draw"/>; returns null, or why it could not draw.</summary>
    public static string? TryDraw(Action draw)
    {
        try
        {
            draw();
            return null;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // e.g. no usable font or native graphics library on a minimal machine: the numbers are in epochs.csv
            return $"{e.GetType().Name}: {Logging.DnnLogging.Innermost(e).Message}";
        }
    }

    public static string EpochsCsv(NetworkSpec spec, IReadOnlyList<EpochResult> epochs)
    {
        var inv = CultureInfo.InvariantCulture;
        bool validation = epochs.Any(e => e.ValidationLoss is not null);
        var csv = new StringBuilder("epoch,steps,train_loss,train_accuracy" + (validation ? ",validation_loss,validation_accuracy" : "") + ",test_loss,test_accuracy,train_seconds,samples_per_second");
        LayerColumns(csv, spec);
        csv.Append('\n');
        foreach (var e in epochs)
        {
            csv.Append(inv, $"{e.Epoch},{e.Steps},{e.TrainLoss:R},{e.TrainAccuracy:R}");
            if (validation) csv.Append(inv, $",{e.ValidationLoss:R},{e.ValidationAccuracy:R}");
            csv.Append(inv, $",{e.TestLoss:R},{e.TestAccuracy:R},{e.TrainSeconds:R},{e.SamplesPerSecond:R}");
            LayerValues(csv, spec, l => e.GradientNorms[l], l => e.UpdateRatios?[l] ?? 0, l => e.Health?[l] ?? 0);
            csv.Append('\n');
        }
        return csv.ToString();
    }

    /// <summary>
    /// The per-layer columns of steps.csv and epochs.csv: grad_norm_layerN and update_ratio_layerN for every layer, then
    /// dead_layerN (ReLU) or saturated_layerN (sigmoid, tanh) for the layers with such a signal.
    /// </summary>
    public static void LayerColumns(StringBuilder csv, NetworkSpec spec)
    {
        var inv = CultureInfo.InvariantCulture;
        for (int l = 0; l < spec.Layers.Count; l++)
            if (spec.Layers[l].HasParameters) csv.Append(inv, $",grad_norm_layer{l + 1}");
        for (int l = 0; l < spec.Layers.Count; l++)
            if (spec.Layers[l].HasParameters) csv.Append(inv, $",update_ratio_layer{l + 1}");
        for (int l = 0; l < spec.Layers.Count; l++)
            if (ActivationHealth.Name(ActivationHealth.Signal(spec.Layers[l].Activation)) is { } name) csv.Append(inv, $",{name}_layer{l + 1}");
    }

    public static void LayerValues(StringBuilder csv, NetworkSpec spec, Func<int, double> norm, Func<int, double> ratio, Func<int, double> health)
    {
        var inv = CultureInfo.InvariantCulture;
        for (int l = 0; l < spec.Layers.Count; l++)
            if (spec.Layers[l].HasParameters) csv.Append(inv, $",{norm(l):R}");
        for (int l = 0; l < spec.Layers.Count; l++)
            if (spec.Layers[l].HasParameters) csv.Append(inv, $",{ratio(l):R}");
        for (int l = 0; l < spec.Layers.Count; l++)
            if (ActivationHealth.Signal(spec.Layers[l].Activation) != HealthSignal.None) csv.Append(inv, $",{health(l):R}");
    }

    private static void WritePlots(string dir, NetworkSpec spec, IReadOnlyList<EpochResult> epochs)
    {
        double[] x = epochs.Select(e => (double)e.Epoch).ToArray();

        var loss = new ScottPlot.Plot();
        loss.Add.Scatter(x, epochs.Select(e => e.TrainLoss).ToArray()).LegendText = "train loss";
        if (epochs.All(e => e.ValidationLoss is not null))
            loss.Add.Scatter(x, epochs.Select(e => e.ValidationLoss!.Value).ToArray()).LegendText = "validation loss";
        loss.Add.Scatter(x, epochs.Select(e => e.TestLoss).ToArray()).LegendText = "test loss";
        Finish(loss, "Loss", "loss (batch mean)");
        loss.SavePng(Path.Combine(dir, "loss.png"), PlotWidth, PlotHeight);

        var accuracy = new ScottPlot.Plot();
        accuracy.Add.Scatter(x, epochs.Select(e => e.TrainAccuracy * 100).ToArray()).LegendText = "train accuracy";
        if (epochs.All(e => e.ValidationAccuracy is not null))
            accuracy.Add.Scatter(x, epochs.Select(e => e.ValidationAccuracy!.Value * 100).ToArray()).LegendText = "validation accuracy";
        accuracy.Add.Scatter(x, epochs.Select(e => e.TestAccuracy * 100).ToArray()).LegendText = "test accuracy";
        Finish(accuracy, "Accuracy", "accuracy (%)");
        accuracy.SavePng(Path.Combine(dir, "accuracy.png"), PlotWidth, PlotHeight);

        GradientNormsPlot(spec, epochs, "Gradient norm per layer (mean over each epoch's steps)")
            .SavePng(Path.Combine(dir, "gradient-norms.png"), PlotWidth, PlotHeight);
    }

    /// <summary>log10 of each layer's mean gradient norm per epoch, a line and a legend entry per layer.</summary>
    public static ScottPlot.Plot GradientNormsPlot(NetworkSpec spec, IReadOnlyList<EpochResult> epochs, string title)
    {
        double[] x = epochs.Select(e => (double)e.Epoch).ToArray();
        var norms = new ScottPlot.Plot();
        for (int l = 0; l < spec.Layers.Count; l++)
        {
            if (!spec.Layers[l].HasParameters) continue;
            int layer = l;
            var y = epochs.Select(e => Log10Norm(e.GradientNorms.ElementAtOrDefault(layer))).ToArray();
            norms.Add.Scatter(x, y).LegendText = $"layer {l + 1} ({spec.Layers[l].Describe()})";
        }
        Finish(norms, title, "log10 ‖dE/dW‖");
        return norms;
    }

    /// <summary>The plotted value of a gradient norm (a zero norm, log −∞, is drawn at −30).</summary>
    public static double Log10Norm(double norm) => Math.Log10(Math.Max(norm, 1e-30));

    private static void Finish(ScottPlot.Plot plot, string title, string yLabel)
    {
        plot.Title(title);
        plot.XLabel("epoch");
        plot.YLabel(yLabel);
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { IntegerTicksOnly = true };
        plot.ShowLegend(ScottPlot.Edge.Right); // beside the plot: it never hides a curve
    }
}
