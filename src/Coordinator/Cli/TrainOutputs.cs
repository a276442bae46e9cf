using System.Globalization;
using DistributedNN.Data;
using DistributedNN.Logging;
using DistributedNN.Model;
using DistributedNN.Serialization;
using DistributedNN.Training;
using Serilog.Events;

namespace DistributedNN.Coordinator.Cli;

/// <summary>
/// What a `dnn train` run leaves: the run folder with its log file (opened before training, so that an output that
/// cannot be written stops the run before the training it would have kept), and at the end the model (--save), the
/// folder's files and the --metrics-out summary. Disposing closes the log file.
/// </summary>
/// <param name="jsonLog">the log file is JSON lines (train.jsonl), not text (train.log)</param>
internal sealed class TrainOutputs(TrainRequest request, string runDir, bool jsonLog, IDisposable logFile) : IDisposable
{
    /// <summary>The run folder.</summary>
    public string RunDir { get; } = runDir;

    /// <summary>Checks the outputs, creates the run folder and starts logging (stderr at <paramref name="logLevel"/>, the folder's log file).</summary>
    /// <exception cref="UserErrorException">An output cannot be written, or --progress or --log-format is unknown.</exception>
    public static TrainOutputs Open(TrainRequest r, LogEventLevel logLevel)
    {
        // an unwritable output must fail now, not after the training it would have kept
        if (r.Save is not null) CheckWritable(r.Save, "--save");
        if (r.Progress is not ("auto" or "live" or "plain")) throw new UserErrorException($"--progress '{r.Progress}' is not one of auto, live, plain");
        bool jsonLog = DnnLogging.ParseFileFormat(r.LogFormat, "--log-format");
        string runDir = RunFolder.Prepare(r.Out ?? RunFolder.DefaultPath());
        DnnLogging.Configure(logLevel, "coordinator");
        var logFile = DnnLogging.LogToFile(Path.Combine(runDir, jsonLog ? RunFolder.JsonLog : RunFolder.TextLog), jsonLog);
        try
        {
            if (r.MetricsOut is not null) CheckWritable(r.MetricsOut, "--metrics-out");
        }
        catch
        {
            logFile.Dispose();
            throw;
        }
        return new TrainOutputs(r, runDir, jsonLog, logFile);
    }

    /// <summary>Writes the trained model, the run folder and the summary, and says where they are.</summary>
    /// <param name="input">what the model does to a raw sample: the data's transform and the class names</param>
    public void Finish(TrainStart start, InputTransform input, RunResult result, RunProgress progress, TextWriter stdout, TextWriter stderr)
    {
        var (r, settings, results, facts) = (request, start.Settings, result.Epochs, result.Facts);
        var kept = facts.KeptEpoch(results);
        if (facts.EarlyStopping is { } stopping) stdout.WriteLine(EarlyStoppingLine(stopping, settings, results, kept));
        stdout.WriteLine($"weights sha256 {facts.WeightsSha256}");
        if (facts.Verification is { } v)
            stdout.WriteLine($"verify  {v.ShardsVerified} shards computed twice and compared, {v.Mismatches} mismatches{(v.Quarantined.Count > 0 ? "; quarantined " + string.Join(", ", v.Quarantined) : "")}");
        string keptNote = facts.EarlyStopping is null ? "" : $" (epoch {kept.Epoch}, the lowest validation loss)";
        var notes = $"trained by dnn train: {OptimizerSettings.Name(settings.Optimizer.Kind)} lr {settings.Optimizer.LearningRate.ToString(CultureInfo.InvariantCulture)}, batch {settings.BatchSize}, {settings.Epochs} epochs, seed {settings.Seed}; test accuracy {kept.TestAccuracy.ToString("P2", CultureInfo.InvariantCulture)}{keptNote}";
        var trainedModel = new TrainedModel(start.Spec, start.Parameters, notes, input);
        if (r.Save is not null)
        {
            ModelFile.Save(r.Save, trainedModel);
            stdout.WriteLine($"saved   {r.Save}");
        }
        string? noPlots;
        try
        {
            noPlots = RunFolder.Write(RunDir, trainedModel, settings, results, result.Steps, facts, progress.Steps);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UserErrorException($"--out {RunDir}: cannot write the run's files ({e.Message})");
        }
        progress.Log.Information("Finished: test accuracy {TestAccuracy:P2} (the weights of epoch {KeptEpoch}), {Steps} steps, weights sha256 {WeightsSha256}", kept.TestAccuracy, kept.Epoch, result.Steps, facts.WeightsSha256);
        stdout.WriteLine($"run     {RunDir} ({string.Join(", ", RunFolder.Files(facts, jsonLog))}{(noPlots is null ? ", " + string.Join(", ", RunFolder.Plots) : "")})");
        if (noPlots is not null) stderr.WriteLine($"warning: no plots in {RunDir}: {noPlots} (install a font, e.g. apt-get install fonts-dejavu-core)");
        if (r.MetricsOut is not null)
        {
            RunMetrics.Write(r.MetricsOut, start.Spec, settings, results, result.Steps, facts);
            stdout.WriteLine($"metrics {r.MetricsOut}");
        }
    }

    /// <summary>How early stopping ended: where it stopped (or that it did not), and the epoch whose weights the run keeps.</summary>
    private static string EarlyStoppingLine(EarlyStoppingProgress stopping, TrainingSettings settings, IReadOnlyList<EpochResult> results, EpochResult kept)
    {
        int last = results[^1].Epoch;
        string end = last < settings.Epochs
            ? $"stopped after epoch {last} of {settings.Epochs}: no lower validation loss in {stopping.EpochsSinceBest} epoch(s)"
            : $"all {settings.Epochs} epochs trained";
        return string.Format(CultureInfo.InvariantCulture, "early stopping: {0}; kept the weights of epoch {1} (val_loss {2:F4}, val_acc {3:P2}, test_acc {4:P2})",
            end, kept.Epoch, kept.ValidationLoss, kept.ValidationAccuracy, kept.TestAccuracy);
    }

    /// <summary>--epochs 0: the initialised model, measured on the test set, into --save and the run folder; nothing trained.</summary>
    public void FinishUntrained(TrainStart start, InputTransform input, TextWriter stdout)
    {
        var test = start.Loaded.Data.Test;
        LocalTrainer.CheckData(start.Spec, test);
        var stats = LocalTrainer.Evaluate(new Backprop(start.Spec, LocalTrainer.EvaluationChunk), start.Parameters, test);
        var inv = CultureInfo.InvariantCulture;
        stdout.WriteLine(string.Format(inv, "epoch 0 (initialised, not trained)  test_loss {0:F4}  test_acc {1:P2}", stats.LossSum / stats.Count, (double)stats.Correct / stats.Count));
        stdout.WriteLine($"weights sha256 {TrainingState.HashWeights(start.Parameters)}");
        var notes = $"initialised by dnn train --epochs 0: seed {start.Settings.Seed}, not trained";
        var model = new TrainedModel(start.Spec, start.Parameters, notes, input);
        if (request.Save is not null)
        {
            ModelFile.Save(request.Save, model);
            stdout.WriteLine($"saved   {request.Save}");
        }
        ModelFile.Save(Path.Combine(RunDir, "model.dnn"), model);
        stdout.WriteLine($"run     {RunDir} (model.dnn, {(jsonLog ? RunFolder.JsonLog : RunFolder.TextLog)})");
    }

    /// <exception cref="UserErrorException"><paramref name="path"/> is a folder, or no file can be written there.</exception>
    internal static void CheckWritable(string path, string option)
    {
        try
        {
            string full = Path.GetFullPath(path);
            if (Directory.Exists(full)) throw new UserErrorException($"{option} {path}: is a directory; give a file name");
            string dir = Path.GetDirectoryName(full)!;
            Directory.CreateDirectory(dir);
            string probe = Path.Combine(dir, $".dnn-write-check-{Environment.ProcessId}");
            File.WriteAllBytes(probe, []);
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new UserErrorException($"{option} {path}: cannot write there ({e.Message})");
        }
    }

    public void Dispose() => logFile.Dispose();
}
