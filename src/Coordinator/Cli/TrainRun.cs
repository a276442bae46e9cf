using System.Globalization;
using DistributedNN.Data;
using DistributedNN.Hosting;
using DistributedNN.Logging;
using DistributedNN.Model;
using DistributedNN.Planning;
using DistributedNN.Security;
using DistributedNN.Serialization;
using DistributedNN.Training;
using DistributedNN.Transport;

namespace DistributedNN.Coordinator.Cli;

/// <summary>One `dnn train` run, single-process or distributed by the options given.</summary>
internal static class TrainRun
{
    public static int Execute(TrainRequest r, TextWriter stdout, TextWriter stderr) => Execute(r, stdout, stderr, out _);

    /// <param name="trained">The network and its epochs, for a caller that compares runs.</param>
    public static int Execute(TrainRequest r, TextWriter stdout, TextWriter stderr, out (NetworkSpec Spec, IReadOnlyList<EpochResult> Epochs) trained)
    {
        // Validate everything that needs no data before spending seconds loading it.
        var choices = TrainChoices.Check(r);
        using var security = r.Distributed ? NodeSecurity.ForCoordinator(r.Host, r.PublicHost, r.Tls, r.Insecure) : null;
        var logLevel = DnnLogging.ParseLevel(r.LogLevel);
        var wire = WireChoice.For(r);
        var settings = choices.Settings(r);
        var checkpointKey = LoadCheckpointKey(r);
        using var outputs = TrainOutputs.Open(r, logLevel);

        // Where it starts: a checkpoint, or the options' network with --init's weights or fresh ones.
        var resumed = Resume(r, checkpointKey, stdout, stderr);
        settings = resumed?.Settings ?? settings;
        TrainedModel? initial = r.Init is null || resumed is not null ? null : ModelLoader.Load(r.Init);
        var spec = TrainNetwork.Choose(r, choices, resumed, initial);
        var classNames = ClassNames.Parse(r.ClassNames, spec, "--class-names");
        settings.Augmentation.Validate(spec.InputShape);
        if (settings.LabelSmoothing > 0 && spec.Loss != LossKind.CrossEntropy)
            throw new UserErrorException($"--label-smoothing smooths cross-entropy's targets; the network's loss is {spec.Loss.Name()}");
        // an image folder's images are resized to --image-size, else to the network's input (a model spec's [C, H, W])
        var input0 = spec.InputShape;
        var dataRequest = new DataRequest(r.Data, r.TestFraction, r.LabelColumn, r.TrainLimit,
            r.ImageSize ?? (input0.IsFlat ? null : $"{input0.Width}x{input0.Height}"), settings.ValidationFraction);
        if (r.ImageSize is not null) ImageFolder.ParseSize(r.ImageSize);
        var loaded = LoadData(dataRequest);
        var (parameters, resumedState) = InitialWeights(r, choices.Scheme, spec, loaded, resumed, initial);
        var start = new TrainStart(spec, settings, dataRequest, loaded, parameters, resumedState, resumed?.Epochs);
        Announce(start, initial is null ? null : r.Init, stdout);
        var input = loaded.Data.Transform.WithClasses(classNames ?? loaded.Data.Transform.Classes);
        if (settings.Epochs == 0)
        {
            outputs.FinishUntrained(start, input, stdout);
            trained = (spec, []);
            return DnnCli.Ok;
        }
        var checkpoints = Checkpoints(r, loaded.Fingerprint, checkpointKey);

        // Train in this process or on the cluster, then leave the model, the run folder and the summary.
        var progress = new RunProgress(r, start, outputs.RunDir, stdout);
        var result = r.Distributed
            ? TrainOnCluster(r, start, checkpoints, wire, security!, progress, stdout)
            : TrainInThisProcess(r, start, checkpoints, progress);
        outputs.Finish(start, input, result, progress, stdout, stderr);
        trained = (spec, result.Epochs);
        return DnnCli.Ok;
    }

    /// <summary>The newest readable checkpoint of --resume (null without it); its settings replace the options'.</summary>
    private static Checkpoint? Resume(TrainRequest r, CheckpointKey? key, TextWriter stdout, TextWriter stderr)
    {
        if (r.Resume is null) return null;
        var (checkpoint, path) = Checkpointer.Latest(r.Resume, warning => stderr.WriteLine($"warning: {warning}"), key);
        stdout.WriteLine($"resume  {path}: epoch {checkpoint.Progress.Epoch + 1}, step {checkpoint.Progress.StepInEpoch + 1} ({checkpoint.Progress.Steps} steps done)");
        return checkpoint;
    }

    private static DataCache.Entry LoadData(DataRequest request)
    {
        LabelColumn.Parse(request.LabelColumn);
        return DataCache.Load(request);
    }

    /// <summary>The checkpoint's state (of the same data), else the --init file's weights, else fresh ones by --init-scheme and --seed.</summary>
    private static (float[] Parameters, TrainingState? ResumedState) InitialWeights(TrainRequest r, InitScheme scheme, NetworkSpec spec, DataCache.Entry loaded,
        Checkpoint? resumed, TrainedModel? initial)
    {
        TrainingState? resumedState = null;
        if (resumed is not null)
        {
            if (resumed.DataFingerprint != loaded.Fingerprint)
                throw new UserErrorException($"--resume {r.Resume}: the data differs from the checkpointed run's (give the same --data, --train-limit, --test-fraction)");
            resumedState = CheckpointFile.Restore(resumed, loaded.Train.Count);
        }
        var parameters = resumedState?.Parameters ?? new float[spec.ParameterCount];
        if (resumedState is null && initial is not null)
        {
            TrainNetwork.CheckSameShape(spec, initial.Spec, r.Init!);
            initial.Parameters.CopyTo(parameters, 0);
        }
        else if (resumedState is null) Initializer.Initialize(spec, parameters, scheme, (ulong)r.Seed);
        return (parameters, resumedState);
    }

    /// <param name="initFrom">the --init file the weights came from, if they did</param>
    private static void Announce(TrainStart start, string? initFrom, TextWriter stdout)
    {
        var (data, train, settings) = (start.Loaded.Data, start.Loaded.Train, start.Settings);
        string validation = start.Loaded.Validation is { } v ? $", {v.Count} validation" : "";
        stdout.WriteLine($"data    {data.Source}: {train.Count} training{validation}, {data.Test.Count} test samples, {train.FeatureCount} features, {train.ClassCount} classes");
        stdout.WriteLine($"network {start.Spec}");
        stdout.WriteLine($"train   {OptimizerSettings.Name(settings.Optimizer.Kind)} lr {settings.Optimizer.LearningRate.ToString(CultureInfo.InvariantCulture)}{Recipe(settings)}, batch {settings.BatchSize} in {settings.Shards} shards, {settings.Epochs} epochs, seed {settings.Seed}{(initFrom is null ? "" : $", init from {initFrom}")}");
    }

    /// <summary>The schedule, clipping and weight-decay group of a run, as its start line says them ("" for none).</summary>
    private static string Recipe(TrainingSettings settings)
    {
        var inv = CultureInfo.InvariantCulture;
        var parts = new List<string>();
        if (settings.Optimizer.Schedule is { } s)
            parts.Add((s.Kind == ScheduleKind.Constant ? "constant" : LearningRateSchedule.Name(s.Kind)) + (s.WarmupSteps > 0 ? $" after {s.WarmupSteps} warm-up steps" : ""));
        if (settings.Optimizer.WeightDecay > 0) parts.Add($"weight decay {settings.Optimizer.WeightDecay.ToString(inv)} on {(settings.Optimizer.DecayBiases ? "all parameters" : "weights only")}");
        if (settings.LabelSmoothing > 0) parts.Add($"label smoothing {settings.LabelSmoothing.ToString(inv)}");
        if (settings.ClipNorm > 0) parts.Add($"gradients clipped to norm {settings.ClipNorm.ToString(inv)}");
        if (settings.Augment is { IsNone: false } a) parts.Add($"augmented:{(a.Pad > 0 ? $" random crop ±{a.Pad}" : "")}{(a.Flip ? " random flip" : "")}");
        if (settings.EarlyStoppingPatience > 0) parts.Add($"early stopping after {settings.EarlyStoppingPatience} epoch(s) without a lower validation loss");
        return parts.Count == 0 ? "" : $" ({string.Join(", ", parts)})";
    }

    /// <summary>
    /// The --checkpoint-key (null without it), checked even for a run without checkpoints: it may come from DNN_CHECKPOINT_KEY
    /// set once for every run, so it is not an error there, but a bad key file is said at once.
    /// </summary>
    private static CheckpointKey? LoadCheckpointKey(TrainRequest r) => r.CheckpointKey is null ? null : CheckpointKey.Load(r.CheckpointKey);

    /// <summary>Checkpoints into --checkpoint-dir, or on into the --resume folder; null for neither.</summary>
    private static Checkpointer? Checkpoints(TrainRequest r, string dataFingerprint, CheckpointKey? key)
    {
        string? checkpointDir = r.CheckpointDir ?? r.Resume;
        if (checkpointDir is null) return null;
        var checkpoints = new Checkpointer(checkpointDir, r.CheckpointEvery, dataFingerprint, key);
        TrainOutputs.CheckWritable(Path.Combine(checkpointDir, Checkpointer.FileName(0)), "--checkpoint-dir");
        return checkpoints;
    }

    private static RunResult TrainInThisProcess(TrainRequest r, TrainStart start, Checkpointer? checkpoints, RunProgress progress)
    {
        var trainer = new LocalTrainer(start.Spec, start.Parameters, start.Settings, r.Threads);
        var epochs = progress.Run(() => trainer.Train(start.Loaded.Train, start.Loaded.Data.Test, progress.Epoch, start.ResumedState, start.PreviousEpochs, (s, list, ended) =>
        {
            checkpoints?.AfterStep(s, list, ended);
            progress.Step(s, 0);
        }, start.Loaded.Validation));
        string weightsHash = TrainingState.HashWeights(start.Parameters);
        return new RunResult(epochs, trainer.Steps, new RunFacts(r.Mode, 1, 0, 0, weightsHash, Health: progress.Warnings,
            EarlyStopping: trainer.State?.EarlyStopping?.Progress));
    }

    /// <summary>--topology auto considers the sharded topology from this many workers on (docs/BENCHMARKS.md, the sharded topology on the testbed).</summary>
    private const int AutoShardedFrom = 8;

    private static RunResult TrainOnCluster(TrainRequest r, TrainStart start, Checkpointer? checkpoints, WireChoice wire, NodeSecurity security, RunProgress progress, TextWriter stdout)
    {
        LocalTrainer.CheckData(start.Spec, start.Loaded.Train);
        LocalTrainer.CheckData(start.Spec, start.Loaded.Data.Test);
        // auto: the star for workers on this machine (no link to spare) and for fewer than 8 (on the emulated testbed the star
        // was as fast or faster at 2 and 4 hosts: docs/BENCHMARKS.md); from 8 workers on other hosts, the cost model's choice
        int expected = r.MinWorkers ?? r.Workers + r.SpawnWorkers;
        bool allLocal = expected <= r.Workers + r.SpawnWorkers;
        // clipping needs the whole gradient's norm before the update: only the star has it in one place
        var topology = wire.Topology ?? (allLocal || expected < AutoShardedFrom || start.Settings.ClipNorm > 0 ? Topology.Star
            : wire.Resolved(start.Spec, expected, start.Settings.Shards, start.Settings.BatchSize));
        var options = new DistributedOptions
        {
            InProcessWorkers = r.Workers,
            SpawnedWorkers = r.SpawnWorkers,
            MinWorkers = r.MinWorkers ?? r.Workers + r.SpawnWorkers,
            Node = new NodeOptions { Host = r.Host, Port = r.Port, PublicHost = r.PublicHost, Tls = security.Tls },
            Security = security,
            StepTimeout = TimeSpan.FromSeconds(r.StepTimeoutSeconds),
            StartTimeout = TimeSpan.FromSeconds(r.StartTimeoutSeconds),
            WorkerLogLevel = r.LogLevel,
            Transport = wire.Transport,
            Topology = topology,
            GradientFormat = wire.GradientFormat,
            WeightFormat = wire.WeightFormat,
            VerifyFraction = r.VerifyFraction,
            WorkerWait = TimeSpan.FromSeconds(r.WorkerWaitSeconds),
            Checkpoints = checkpoints,
            PreviousEpochs = start.PreviousEpochs,
            OnStep = progress.Step,
        };
        stdout.WriteLine($"cluster {r.Mode}: {options.InProcessWorkers} in-process worker(s), {options.SpawnedWorkers} worker process(es), waiting for {options.MinWorkers}; tensors over {wire.Transport.Name()}{(topology == Topology.Sharded ? ", sharded" : "")}; {Protection(security)}");
        if (security.Mode == SecurityMode.Insecure) Serilog.Log.Warning(NodeSecurity.InsecureWarning);
        var state = start.ResumedState ?? new TrainingState(start.Spec, start.Parameters, start.Settings, start.Loaded.Train.Count);
        var outcome = progress.Run(() => DistributedTrainer.RunAsync(state, start.DataRequest, start.Loaded, options, progress.Epoch).GetAwaiter().GetResult());
        var facts = new RunFacts(r.Mode, outcome.Workers, outcome.TensorBytesSent, outcome.TensorBytesReceived, outcome.WeightsSha256,
            wire.GradientFormat.Name(), wire.WeightFormat.Name(), progress.Warnings, outcome.WorkerStats, security.Name, outcome.Verification, state.EarlyStopping?.Progress);
        return new RunResult(outcome.Epochs, outcome.Steps, facts);
    }

    /// <summary>How the run is protected, in the words of its start line (where a worker started by hand finds the run's secret).</summary>
    private static string Protection(NodeSecurity security) => security.Mode switch
    {
        SecurityMode.Tls => $"mutual TLS with '{security.Tls!.Certificate.Subject}'",
        SecurityMode.RunSecret => $"mutual TLS with this run's secret {security.Files!.Certificate} (workers started by hand: dnn worker --tls-cert {security.Files.Certificate})",
        _ => "NO TLS (--insecure)",
    };
}
