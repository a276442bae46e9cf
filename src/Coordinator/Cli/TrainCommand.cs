using DistributedNN.Configuration;
using System.CommandLine;
using System.Globalization;
using DistributedNN.Hosting;
using DistributedNN.Logging;
using DistributedNN.Data;
using DistributedNN.Protocol;
using DistributedNN.Worker;
using DistributedNN.Model;
using DistributedNN.Serialization;
using DistributedNN.Training;
using DistributedNN.Transport;

namespace DistributedNN.Coordinator.Cli;

/// <summary>`dnn train`: single-process training, one line per epoch.</summary>
public static class TrainCommand
{
    public const string DefaultLayers = "784,256,128,10";

    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var data = new Option<string?>("--data") { Description = "Data set: a folder with the four IDX files (MNIST/Fashion-MNIST, raw or .gz), a CSV file, or TRAIN.csv,TEST.csv. Default: $DNN_DATA, then /usr/share/datasets/fashion-mnist." };
        var layers = new Option<string?>("--layers") { Description = $"Layer sizes from input to output, e.g. {DefaultLayers} (the default; with --init, the init file's)." };
        var activation = new Option<string>("--activation") { Description = "Hidden activation: relu, sigmoid, tanh, identity.", DefaultValueFactory = _ => "relu" };
        var modelSpec = new Option<string?>("--model-spec") { Description = "The network from a JSON or YAML model spec (convolution, pooling, dropout, skip connections; docs/MODEL_SPEC.md) instead of --layers/--activation/--output/--loss." };
        var output = new Option<string?>("--output") { Description = "Output activation: softmax (default for cross-entropy), sigmoid (default for sse/mse), identity, tanh, relu." };
        var loss = new Option<string>("--loss") { Description = "Loss: ce (softmax cross-entropy), sse (½·Σ(t−a)², the tutorial's), mse. Averaged over the batch.", DefaultValueFactory = _ => "ce" };
        var optimizer = new Option<string>("--optimizer") { Description = "sgd, momentum, nesterov, adam, adamw.", DefaultValueFactory = _ => "adam" };
        var lr = new Option<float?>("--lr") { Description = "Learning rate η (default: 0.05 for sgd/momentum/nesterov, 0.001 for adam/adamw)." };
        var momentum = new Option<float>("--momentum") { Description = "Momentum μ for momentum/nesterov.", DefaultValueFactory = _ => 0.9f };
        var weightDecay = new Option<float>("--weight-decay") { Description = "L2 weight decay λ (decoupled for adamw).", DefaultValueFactory = _ => 0f };
        var batch = new Option<int>("--batch") { Description = "Mini-batch size (global).", DefaultValueFactory = _ => 64 };
        var epochs = new Option<int>("--epochs") { Description = "Passes over the training set.", DefaultValueFactory = _ => 5 };
        var seed = new Option<long>("--seed") { Description = "Seed of the initial weights and the data order.", DefaultValueFactory = _ => 1 };
        var shards = new Option<int?>("--shards") { Description = "Shards per mini-batch (fixed boundaries; part of the run's mathematics, like the batch size). Default: 4, or the batch size if smaller." };
        var noShuffle = new Option<bool>("--no-shuffle") { Description = "Keep the data set's order in every epoch." };
        var trainLimit = new Option<int?>("--train-limit") { Description = "Use only the first N training samples." };
        var init = new Option<string?>("--init") { Description = "Start from these weights: a model file (.dnn) or a JSON export of the same shape." };
        var initScheme = new Option<string>("--init-scheme") { Description = "Random initialisation: auto (He for ReLU layers, Xavier otherwise), xavier, he, pytorch.", DefaultValueFactory = _ => "auto" };
        var save = new Option<string?>("--save") { Description = "Write the trained model to this file." };
        var progress = new Option<string>("--progress") { Description = "auto (a live progress bar on a terminal, one line per epoch otherwise), live, or plain.", DefaultValueFactory = _ => "auto" };
        var outDir = new Option<string?>("--out") { Description = "The run folder: model.dnn, metrics.json, epochs.csv and the plots loss.png, accuracy.png, gradient-norms.png (default: runs/<UTC time>)." };
        var compareActivations = new Option<string?>("--compare-activations") { Description = "Train the same network once per hidden activation in the list (instead of --activation, which it refuses), each into its own run folder <out>/<activation>/, and draw their gradient norms side by side on one scale in <out>/gradient-norms-compare.png, e.g. --compare-activations sigmoid,relu." };
        var metricsOut = new Option<string?>("--metrics-out") { Description = "Write a JSON summary of the run to this file." };
        var testFraction = new Option<double>("--test-fraction") { Description = "For a single CSV file: the fraction held out as the test set.", DefaultValueFactory = _ => DataSource.DefaultTestFraction };
        var labelColumn = new Option<string>("--label-column") { Description = "For CSV: the label column: first, last or a 1-based number.", DefaultValueFactory = _ => "last" };
        var threads = new Option<int>("--threads") { Description = "Single-process: run the matrix products on this many threads (the same weights, bit for bit, for any number).", DefaultValueFactory = _ => 1 };
        var workers = new Option<int>("--workers") { Description = "Distributed: host this many worker actors in this process.", DefaultValueFactory = _ => 0 };
        var spawnWorkers = new Option<int>("--spawn-workers") { Description = "Distributed: start this many worker processes on this machine (stopped at the end).", DefaultValueFactory = _ => 0 };
        var minWorkers = new Option<int?>("--min-workers") { Description = "Distributed: wait for this many workers before the first step (default: --workers + --spawn-workers); others may join with dnn-worker --seed-nodes." };
        var host = new Option<string>("--host") { Description = "Distributed: address the coordinator binds to.", DefaultValueFactory = _ => "127.0.0.1" };
        var port = new Option<int>("--port") { Description = "Distributed: the coordinator's Akka.Remote port (0 = any free; workers on other machines need a fixed one, e.g. 4053).", DefaultValueFactory = _ => 0 };
        var publicHost = new Option<string?>("--public-host") { Description = "Distributed: the host name workers reach the coordinator by (default --host)." };
        var stepTimeout = new Option<double>("--step-timeout") { Description = "Distributed: seconds before a missing shard result is handed to another worker.", DefaultValueFactory = _ => 60 };
        var startTimeout = new Option<double>("--start-timeout") { Description = "Distributed: seconds to wait for --min-workers.", DefaultValueFactory = _ => 120 };
        var checkpointDir = new Option<string?>("--checkpoint-dir") { Description = "Write checkpoints (atomic, checksummed) into this folder, every --checkpoint-every steps and at each epoch's end." };
        var checkpointEvery = new Option<int>("--checkpoint-every") { Description = "Steps between checkpoints (0: only at epoch ends).", DefaultValueFactory = _ => 100 };
        var resume = new Option<string?>("--resume") { Description = "Continue the run checkpointed in this folder (its network and settings; the newest readable checkpoint); keeps checkpointing there." };
        var workerWait = new Option<double>("--worker-wait") { Description = "Distributed: seconds to wait for workers when none are left mid-run, before stopping.", DefaultValueFactory = _ => 120 };
        var transport = new Option<string>("--transport") { Description = "Distributed: how weights and gradients travel: tcp (direct data-plane streams), shm (shared memory: workers on this machine only), akka (Akka.Remote chunks, a slower fallback), or auto: shm when every worker is in this process or spawned by it (no --tls-cert, fp32 formats), else tcp.", DefaultValueFactory = _ => "auto" };
        var gradientFormat = new Option<string>("--gradient-format") { Description = "Distributed: how shard gradients travel: fp32 (bit-identical to one process) or bf16 (half the bytes up, rounded to nearest even; weights stay fp32 and the sum is fp32).", DefaultValueFactory = _ => "fp32" };
        var weightFormat = new Option<string>("--weight-format") { Description = "Distributed: how the weights travel to the workers: fp32 or bf16 (half the bytes down; the workers compute with the rounded weights, the coordinator keeps and updates fp32 weights).", DefaultValueFactory = _ => "fp32" };
        var logLevel = new Option<string>("--log-level") { Description = "debug, info, warning, error: what stderr shows (the run folder's log file gets info and up).", DefaultValueFactory = _ => "warning" };
        var logFormat = new Option<string>("--log-format") { Description = "The run folder's log file: text (train.log) or json (train.jsonl: one compact JSON event per line, CLEF).", DefaultValueFactory = _ => "text" };

        var command = new Command("train", "Train a network in this process and report loss and accuracy per epoch.\n\n" +
            "Examples:\n  dnn train\n  dnn train --layers 784,256,128,10 --optimizer sgd --lr 0.1 --batch 128 --epochs 3\n" +
            "  dnn train --activation sigmoid --loss sse --lr 3 --save model.dnn --metrics-out metrics.json\n" +
            "  dnn train --model-spec examples/cnn.json --epochs 5");
        foreach (var o in new Option[] { data, modelSpec, layers, activation, output, loss, optimizer, lr, momentum, weightDecay, batch, epochs, seed, shards, noShuffle, trainLimit, init, initScheme, save, metricsOut, testFraction, labelColumn,
            threads, workers, spawnWorkers, minWorkers, host, port, publicHost, stepTimeout, startTimeout, workerWait, transport, gradientFormat, weightFormat, logLevel, checkpointDir, checkpointEvery, resume })
            command.Options.Add(o);
        var tls = new DistributedNN.Security.TlsOptions();
        tls.AddTo(command);
        command.Options.Add(outDir);
        command.Options.Add(compareActivations);
        command.Options.Add(progress);
        command.Options.Add(logFormat);
        command.Options.Add(ConfigArguments.Option());

        command.SetAction(parse =>
        {
            var request = new TrainRequest
            {
                Data = parse.GetValue(data),
                Layers = parse.GetValue(layers),
                ModelSpec = parse.GetValue(modelSpec),
                ArchitectureOptionsGiven = new Option[] { layers, activation, output, loss }.Where(o => parse.GetResult(o) is { Implicit: false }).Select(o => o.Name).ToArray(),
                Activation = parse.GetValue(activation)!,
                Output = parse.GetValue(output),
                Loss = parse.GetValue(loss)!,
                Optimizer = parse.GetValue(optimizer)!,
                LearningRate = parse.GetValue(lr),
                Momentum = parse.GetValue(momentum),
                WeightDecay = parse.GetValue(weightDecay),
                Batch = parse.GetValue(batch),
                Epochs = parse.GetValue(epochs),
                Seed = parse.GetValue(seed),
                Shards = parse.GetValue(shards),
                Shuffle = !parse.GetValue(noShuffle),
                TrainLimit = parse.GetValue(trainLimit),
                Init = parse.GetValue(init),
                InitScheme = parse.GetValue(initScheme)!,
                Save = parse.GetValue(save),
                MetricsOut = parse.GetValue(metricsOut),
                TestFraction = parse.GetValue(testFraction),
                LabelColumn = parse.GetValue(labelColumn)!,
                Threads = parse.GetValue(threads),
                Workers = parse.GetValue(workers),
                SpawnWorkers = parse.GetValue(spawnWorkers),
                MinWorkers = parse.GetValue(minWorkers),
                Host = parse.GetValue(host)!,
                Port = parse.GetValue(port),
                PublicHost = parse.GetValue(publicHost),
                StepTimeoutSeconds = parse.GetValue(stepTimeout),
                StartTimeoutSeconds = parse.GetValue(startTimeout),
                LogLevel = parse.GetValue(logLevel)!,
                Transport = parse.GetValue(transport)!,
                GradientFormat = parse.GetValue(gradientFormat)!,
                WeightFormat = parse.GetValue(weightFormat)!,
                WorkerWaitSeconds = parse.GetValue(workerWait),
                CheckpointDir = parse.GetValue(checkpointDir),
                CheckpointEvery = parse.GetValue(checkpointEvery),
                Resume = parse.GetValue(resume),
                Tls = tls.Files(parse),
                Out = parse.GetValue(outDir),
                Progress = parse.GetValue(progress)!,
                LogFormat = parse.GetValue(logFormat)!,
                CompareActivations = parse.GetValue(compareActivations),
                ActivationGiven = parse.GetResult(activation) is { Implicit: false },
            };
            if (request.CompareActivations is not null) return ActivationComparison.Execute(request, stdout, stderr);
            return TrainRun.Execute(request, stdout, stderr);
        });
        return command;
    }
}

/// <summary>The options of one `dnn train`, as given.</summary>
public sealed record TrainRequest
{
    public string? Data { get; init; }
    public string? Layers { get; init; }
    /// <summary>A JSON/YAML model spec file (instead of <see cref="Layers"/> and the activations).</summary>
    public string? ModelSpec { get; init; }
    /// <summary>Which of --layers, --activation, --output, --loss were given (they clash with --model-spec).</summary>
    public string[] ArchitectureOptionsGiven { get; init; } = [];
    public string Activation { get; init; } = "relu";
    public string? Output { get; init; }
    public string Loss { get; init; } = "ce";
    public string Optimizer { get; init; } = "adam";
    public float? LearningRate { get; init; }
    public float Momentum { get; init; } = 0.9f;
    public float WeightDecay { get; init; }
    public int Batch { get; init; } = 64;
    public int Epochs { get; init; } = 5;
    public long Seed { get; init; } = 1;
    public int? Shards { get; init; }
    public bool Shuffle { get; init; } = true;
    public int? TrainLimit { get; init; }
    public string? Init { get; init; }
    public string InitScheme { get; init; } = "auto";
    public string? Save { get; init; }
    public string? MetricsOut { get; init; }
    public double TestFraction { get; init; } = DataSource.DefaultTestFraction;
    public string LabelColumn { get; init; } = "last";
    public int Threads { get; init; } = 1;
    /// <summary>Mutual TLS on both planes of a distributed run (null: plain TCP).</summary>
    public DistributedNN.Security.TlsFiles? Tls { get; init; }
    /// <summary>The run folder (null: a new one under runs/).</summary>
    public string? Out { get; init; }
    /// <summary>auto, live or plain (<see cref="TrainingView"/>).</summary>
    public string Progress { get; init; } = "auto";
    /// <summary>text or json: the run folder's log file.</summary>
    public string LogFormat { get; init; } = "text";
    /// <summary>Hidden activations to train the network with one after another (<see cref="ActivationComparison"/>); null: one run with <see cref="Activation"/>.</summary>
    public string? CompareActivations { get; init; }
    /// <summary>--activation was given (option, DNN_ACTIVATION or config file), not left at its default.</summary>
    public bool ActivationGiven { get; init; }
    public int Workers { get; init; }
    public int SpawnWorkers { get; init; }
    public int? MinWorkers { get; init; }
    public string Host { get; init; } = "127.0.0.1";
    public int Port { get; init; }
    public string? PublicHost { get; init; }
    public double StepTimeoutSeconds { get; init; } = 60;
    public double StartTimeoutSeconds { get; init; } = 120;
    public string LogLevel { get; init; } = "warning";
    /// <summary>tcp, shm, akka or auto (<see cref="TrainRun.AutoTransport"/>).</summary>
    public string Transport { get; init; } = "auto";
    public string GradientFormat { get; init; } = "fp32";
    public string WeightFormat { get; init; } = "fp32";
    public double WorkerWaitSeconds { get; init; } = 120;
    public string? CheckpointDir { get; init; }
    public int CheckpointEvery { get; init; } = 100;
    public string? Resume { get; init; }

    public bool Distributed => Workers > 0 || SpawnWorkers > 0 || MinWorkers is > 0;

    public string Mode => !Distributed ? "single-process"
        : SpawnWorkers > 0 ? "multi-process"
        : MinWorkers is int m && m > Workers ? "cluster"
        : "in-process";
}

internal static class TrainRun
{
    public static int Execute(TrainRequest r, TextWriter stdout, TextWriter stderr) => Execute(r, stdout, stderr, out _);

    /// <param name="trained">The network and its epochs, for a caller that compares runs.</param>
    public static int Execute(TrainRequest r, TextWriter stdout, TextWriter stderr, out (NetworkSpec Spec, IReadOnlyList<EpochResult> Epochs) trained)
    {
        // Validate everything that needs no data before spending seconds loading it.
        if (!Activations.TryParse(r.Activation, out var hidden) || hidden == Activation.Softmax)
            throw new UserErrorException($"--activation '{r.Activation}' is not one of relu, sigmoid, tanh, identity");
        if (!Losses.TryParse(r.Loss, out var loss))
            throw new UserErrorException($"--loss '{r.Loss}' is not one of ce, sse, mse");
        var outputAct = loss == LossKind.CrossEntropy ? Activation.Softmax : Activation.Sigmoid;
        if (r.Output is not null && !Activations.TryParse(r.Output, out outputAct))
            throw new UserErrorException($"--output '{r.Output}' is not one of softmax, sigmoid, identity, tanh, relu");
        if (!OptimizerSettings.TryParseKind(r.Optimizer, out var kind))
            throw new UserErrorException($"--optimizer '{r.Optimizer}' is not one of sgd, momentum, nesterov, adam, adamw");
        if (!Initializer.TryParse(r.InitScheme, out var scheme))
            throw new UserErrorException($"--init-scheme '{r.InitScheme}' is not one of auto, xavier, he, pytorch");
        if (r.Batch <= 0) throw new UserErrorException($"--batch must be at least 1 (got {r.Batch})");
        if (r.Epochs <= 0) throw new UserErrorException($"--epochs must be at least 1 (got {r.Epochs})");
        if (r.Seed < 0) throw new UserErrorException($"--seed must be zero or positive (got {r.Seed})");
        if (r.TrainLimit is <= 0) throw new UserErrorException($"--train-limit must be at least 1 (got {r.TrainLimit})");
        if (!(r.TestFraction > 0 && r.TestFraction < 1)) throw new UserErrorException($"--test-fraction must be between 0 and 1 (got {r.TestFraction})");
        if (r.Threads < 1) throw new UserErrorException($"--threads must be at least 1 (got {r.Threads})");
        if (r.Workers < 0) throw new UserErrorException($"--workers must be zero or more (got {r.Workers})");
        if (r.SpawnWorkers < 0) throw new UserErrorException($"--spawn-workers must be zero or more (got {r.SpawnWorkers})");
        if (r.MinWorkers is < 1) throw new UserErrorException($"--min-workers must be at least 1 (got {r.MinWorkers})");
        if (r.Port is < 0 or > 65535) throw new UserErrorException($"--port must be between 0 and 65535 (got {r.Port})");
        if (!(r.StepTimeoutSeconds > 0)) throw new UserErrorException($"--step-timeout must be a positive number of seconds (got {r.StepTimeoutSeconds})");
        if (!(r.WorkerWaitSeconds > 0)) throw new UserErrorException($"--worker-wait must be a positive number of seconds (got {r.WorkerWaitSeconds})");
        if (!(r.StartTimeoutSeconds > 0)) throw new UserErrorException($"--start-timeout must be a positive number of seconds (got {r.StartTimeoutSeconds})");
        if (r.CheckpointEvery < 0) throw new UserErrorException($"--checkpoint-every must be zero or more (got {r.CheckpointEvery})");
        if (r.ModelSpec is not null && r.ArchitectureOptionsGiven.Length > 0)
            throw new UserErrorException($"--model-spec describes the whole network; drop {string.Join(", ", r.ArchitectureOptionsGiven)} (the spec's \"loss\" and \"activation\" keys set those)");
        if (r.ModelSpec is not null && r.Resume is not null)
            throw new UserErrorException("--resume continues the checkpointed network; drop --model-spec");
        if (r.Tls is not null && !r.Distributed)
            throw new UserErrorException("--tls-cert secures a cluster: give --workers, --spawn-workers or --min-workers too");
        using var clusterTls = r.Tls?.Load();
        var logLevel = DnnLogging.ParseLevel(r.LogLevel);
        var transport = r.Transport.Trim().ToLowerInvariant() == "auto" ? AutoTransport(r) : TransportKinds.Parse(r.Transport);
        WireFormat Format(string text, string option)
        {
            var format = WireFormats.Parse(text, option);
            if (format != WireFormat.Fp32 && (!r.Distributed || transport != TransportKind.Tcp))
                throw new UserErrorException($"{option} {format.Name()} applies to the data plane of a distributed run: give --workers, --spawn-workers or --min-workers (and --transport tcp)");
            return format;
        }
        var gradientFormat = Format(r.GradientFormat, "--gradient-format");
        var weightFormat = Format(r.WeightFormat, "--weight-format");
        float lrValue = r.LearningRate ?? (kind is OptimizerKind.Adam or OptimizerKind.AdamW ? 0.001f : 0.05f);
        var optimizer = new OptimizerSettings(kind, lrValue, Momentum: r.Momentum, WeightDecay: r.WeightDecay);
        optimizer.Validate();
        int shards = r.Shards ?? System.Math.Min(4, r.Batch);
        var settings = new TrainingSettings(r.Epochs, r.Batch, shards, (ulong)r.Seed, r.Shuffle, optimizer);
        settings.Validate();

        // an unwritable output must fail now, not after the training it would have kept
        if (r.Save is not null) CheckWritable(r.Save, "--save");
        if (r.Progress is not ("auto" or "live" or "plain")) throw new UserErrorException($"--progress '{r.Progress}' is not one of auto, live, plain");
        bool jsonLog = DnnLogging.ParseFileFormat(r.LogFormat, "--log-format");
        string runDir = RunFolder.Prepare(r.Out ?? RunFolder.DefaultPath());
        DnnLogging.Configure(logLevel, "coordinator");
        using var logFile = DnnLogging.LogToFile(Path.Combine(runDir, jsonLog ? RunFolder.JsonLog : RunFolder.TextLog), jsonLog);
        if (r.MetricsOut is not null) CheckWritable(r.MetricsOut, "--metrics-out");
        Checkpoint? resumed = null;
        if (r.Resume is not null)
        {
            var (checkpoint, path) = Checkpointer.Latest(r.Resume, warning => stderr.WriteLine($"warning: {warning}"));
            resumed = checkpoint;
            settings = checkpoint.Settings;
            stdout.WriteLine($"resume  {path}: epoch {checkpoint.Progress.Epoch + 1}, step {checkpoint.Progress.StepInEpoch + 1} ({checkpoint.Progress.Steps} steps done)");
        }
        TrainedModel? initial = r.Init is null || resumed is not null ? null : ModelLoader.Load(r.Init);
        NetworkSpec spec;
        if (resumed is not null) spec = resumed.Network.ToSpec();
        else if (r.ModelSpec is not null) spec = DistributedNN.Model.ModelSpec.Load(r.ModelSpec);
        else if (r.Layers is null && initial is { Spec.IsPlainStack: false }) spec = initial.Spec;
        else
        {
            var sizes = r.Layers is not null ? ParseLayers(r.Layers)
                : initial is not null ? [initial.Spec.InputSize, .. initial.Spec.Layers.Select(l => l.Outputs)]
                : ParseLayers(TrainCommand.DefaultLayers);
            spec = NetworkSpec.FromSizes(sizes, hidden, outputAct, loss);
        }

        LabelColumn.Parse(r.LabelColumn);
        var dataRequest = new DataRequest(r.Data, r.TestFraction, r.LabelColumn, r.TrainLimit);
        var loaded = DataCache.Load(dataRequest);
        var data = loaded.Data;
        var train = loaded.Train;

        TrainingState? resumedState = null;
        if (resumed is not null)
        {
            if (resumed.DataFingerprint != loaded.Fingerprint)
                throw new UserErrorException($"--resume {r.Resume}: the data differs from the checkpointed run's (give the same --data, --train-limit, --test-fraction)");
            resumedState = CheckpointFile.Restore(resumed, train.Count);
        }
        var parameters = resumedState?.Parameters ?? new float[spec.ParameterCount];
        if (resumedState is null && initial is not null)
        {
            CheckSameShape(spec, initial.Spec, r.Init!);
            initial.Parameters.CopyTo(parameters, 0);
        }
        else if (resumedState is null) Initializer.Initialize(spec, parameters, scheme, (ulong)r.Seed);

        stdout.WriteLine($"data    {data.Source}: {train.Count} training, {data.Test.Count} test samples, {train.FeatureCount} features, {train.ClassCount} classes");
        stdout.WriteLine($"network {spec}");
        stdout.WriteLine($"train   {OptimizerSettings.Name(settings.Optimizer.Kind)} lr {settings.Optimizer.LearningRate.ToString(CultureInfo.InvariantCulture)}, batch {settings.BatchSize} in {settings.Shards} shards, {settings.Epochs} epochs, seed {settings.Seed}{(initial is null ? "" : $", init from {r.Init}")}");
        string? checkpointDir = r.CheckpointDir ?? r.Resume;
        var checkpoints = checkpointDir is null ? null : new Checkpointer(checkpointDir, r.CheckpointEvery, loaded.Fingerprint);
        if (checkpointDir is not null) CheckWritable(Path.Combine(checkpointDir, Checkpointer.FileName(0)), "--checkpoint-dir");
        int epochs = settings.Epochs;
        var view = TrainingView.For(r.Progress, stdout, epochs, spec);
        var stepLog = new StepLog();
        void OnStep(TrainingState s, int workers)
        {
            stepLog.Add(s);
            view.Step(s, workers);
        }
        // this run's own events carry its folder (several runs may share a process and its log files: tests, --compare-activations)
        var log = Serilog.Log.ForContext("RunFolder", runDir);
        log.Information("Training {Network} on {Data} ({Mode}): {Optimizer} lr {LearningRate}, batch {Batch} in {Shards} shards, {Epochs} epochs, seed {Seed}; run folder {RunFolder}",
            spec.Describe(), data.Source, r.Mode, OptimizerSettings.Name(settings.Optimizer.Kind), settings.Optimizer.LearningRate, settings.BatchSize, settings.Shards, epochs, settings.Seed, runDir);
        var health = new TrainingHealth(spec);
        void OnEpoch(EpochResult e)
        {
            view.Epoch(e);
            log.Information("Epoch {Epoch}/{Epochs}: loss {Loss:F4}, train accuracy {TrainAccuracy:P2}, test loss {TestLoss:F4}, test accuracy {TestAccuracy:P2}, {SamplesPerSecond:F0} samples/s; gradient norms {GradientNorms}, update ratios {UpdateRatios}, dead/saturated {Health}",
                e.Epoch, epochs, e.TrainLoss, e.TrainAccuracy, e.TestLoss, e.TestAccuracy, e.SamplesPerSecond, e.GradientNorms, e.UpdateRatios, e.Health);
            foreach (var w in health.Check(e))
                log.ForContext("HealthKind", w.Kind).ForContext("Layer", w.Layer).Warning("Training health: {Problem}", w.Message);
        }

        IReadOnlyList<EpochResult> results;
        string weightsHash;
        long steps;
        RunFacts facts;
        if (!r.Distributed)
        {
            var trainer = new LocalTrainer(spec, parameters, settings, r.Threads);
            results = view.Run(() => trainer.Train(train, data.Test, OnEpoch, resumedState, resumed?.Epochs, (s, list, ended) =>
            {
                checkpoints?.AfterStep(s, list, ended);
                OnStep(s, 0);
            }));
            weightsHash = TrainingState.HashWeights(parameters);
            steps = trainer.Steps;
            facts = new RunFacts(r.Mode, 1, 0, 0, weightsHash, Health: health.Warnings);
        }
        else
        {
            LocalTrainer.CheckData(spec, train);
            LocalTrainer.CheckData(spec, data.Test);
            var options = new DistributedOptions
            {
                InProcessWorkers = r.Workers,
                SpawnedWorkers = r.SpawnWorkers,
                MinWorkers = r.MinWorkers ?? r.Workers + r.SpawnWorkers,
                Node = new NodeOptions { Host = r.Host, Port = r.Port, PublicHost = r.PublicHost, Tls = clusterTls },
                TlsFiles = r.Tls,
                StepTimeout = TimeSpan.FromSeconds(r.StepTimeoutSeconds),
                StartTimeout = TimeSpan.FromSeconds(r.StartTimeoutSeconds),
                WorkerLogLevel = r.LogLevel,
                Transport = transport,
                GradientFormat = gradientFormat,
                WeightFormat = weightFormat,
                WorkerWait = TimeSpan.FromSeconds(r.WorkerWaitSeconds),
            };
            stdout.WriteLine($"cluster {r.Mode}: {options.InProcessWorkers} in-process worker(s), {options.SpawnedWorkers} worker process(es), waiting for {options.MinWorkers}; tensors over {transport.Name()}" +
                (clusterTls is null ? "" : $"; mutual TLS with '{clusterTls.Certificate.Subject}'"));
            var state = resumedState ?? new TrainingState(spec, parameters, settings, train.Count);
            options = options with { Checkpoints = checkpoints, PreviousEpochs = resumed?.Epochs };
            options = options with { OnStep = OnStep };
            var outcome = view.Run(() => DistributedTrainer.RunAsync(state, dataRequest, loaded, options, OnEpoch).GetAwaiter().GetResult());
            results = outcome.Epochs;
            weightsHash = outcome.WeightsSha256;
            steps = outcome.Steps;
            facts = new RunFacts(r.Mode, outcome.Workers, outcome.TensorBytesSent, outcome.TensorBytesReceived, weightsHash, gradientFormat.Name(), weightFormat.Name(),
                health.Warnings, outcome.WorkerStats);
        }
        stdout.WriteLine($"weights sha256 {weightsHash}");

        var notes = $"trained by dnn train: {OptimizerSettings.Name(settings.Optimizer.Kind)} lr {settings.Optimizer.LearningRate.ToString(CultureInfo.InvariantCulture)}, batch {settings.BatchSize}, {settings.Epochs} epochs, seed {settings.Seed}; test accuracy {results[^1].TestAccuracy.ToString("P2", CultureInfo.InvariantCulture)}";
        var trainedModel = new TrainedModel(spec, parameters, notes);
        if (r.Save is not null)
        {
            ModelFile.Save(r.Save, trainedModel);
            stdout.WriteLine($"saved   {r.Save}");
        }
        string? noPlots;
        try
        {
            noPlots = RunFolder.Write(runDir, trainedModel, settings, results, steps, facts, stepLog);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UserErrorException($"--out {runDir}: cannot write the run's files ({e.Message})");
        }
        log.Information("Finished: test accuracy {TestAccuracy:P2}, {Steps} steps, weights sha256 {WeightsSha256}", results[^1].TestAccuracy, steps, weightsHash);
        stdout.WriteLine($"run     {runDir} ({string.Join(", ", RunFolder.Files(facts, jsonLog))}{(noPlots is null ? ", " + string.Join(", ", RunFolder.Plots) : "")})");
        if (noPlots is not null) stderr.WriteLine($"warning: no plots in {runDir}: {noPlots} (install a font, e.g. apt-get install fonts-dejavu-core)");
        if (r.MetricsOut is not null)
        {
            RunMetrics.Write(r.MetricsOut, spec, settings, results, steps, facts);
            stdout.WriteLine($"metrics {r.MetricsOut}");
        }
        trained = (spec, results);
        return DnnCli.Ok;
    }

    /// <summary>
    /// Shared memory when every worker runs on this machine because this run made it (in-process or spawned; no
    /// --min-workers beyond those), the formats are fp32 and no TLS is asked for; TCP otherwise.
    /// </summary>
    public static TransportKind AutoTransport(TrainRequest r)
    {
        int local = r.Workers + r.SpawnWorkers;
        bool allLocal = local > 0 && (r.MinWorkers ?? local) <= local;
        bool fp32 = WireFormats.Parse(r.GradientFormat, "--gradient-format") == WireFormat.Fp32
            && WireFormats.Parse(r.WeightFormat, "--weight-format") == WireFormat.Fp32;
        return allLocal && fp32 && r.Tls is null ? TransportKind.Shm : TransportKind.Tcp;
    }

    /// <param name="spec">when given, layers without parameters show "-" for their (absent) gradient norm</param>
    public static string FormatEpoch(EpochResult e, int epochs, NetworkSpec? spec = null) => string.Format(CultureInfo.InvariantCulture,
        "epoch {0}/{1}  loss {2:F4}  train_acc {3:P2}  test_loss {4:F4}  test_acc {5:P2}  {6:N0} samples/s  {7:F2} s  grad_norms [{8}]",
        e.Epoch, epochs, e.TrainLoss, e.TrainAccuracy, e.TestLoss, e.TestAccuracy, e.SamplesPerSecond, e.TrainSeconds,
        string.Join(" ", e.GradientNorms.Select((n, l) => spec?.Layers[l].HasParameters == false ? "-" : n.ToString("0.###e0", CultureInfo.InvariantCulture))));

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

    public static int[] ParseLayers(string text)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        var sizes = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out sizes[i]) || sizes[i] <= 0)
                throw new UserErrorException($"--layers '{text}': '{parts[i]}' is not a positive layer size (write sizes like 784,256,128,10)");
        if (sizes.Length < 2) throw new UserErrorException($"--layers '{text}' needs at least an input and an output size, e.g. 784,10");
        return sizes;
    }

    private static void CheckSameShape(NetworkSpec spec, NetworkSpec init, string path)
    {
        if (!spec.IsPlainStack || !init.IsPlainStack)
        {
            if (DistributedNN.Model.ModelSpec.ToJson(spec) != DistributedNN.Model.ModelSpec.ToJson(init))
                throw new UserErrorException($"--init {path}: the file's network ({init}) is not this one ({spec})");
            return;
        }
        if (init.Layers.Count != spec.Layers.Count)
            throw new UserErrorException($"--init {path}: the file has {init.Layers.Count} layers but the network has {spec.Layers.Count}");
        for (int l = 0; l < spec.Layers.Count; l++)
            if (init.Layers[l].Inputs != spec.Layers[l].Inputs || init.Layers[l].Outputs != spec.Layers[l].Outputs)
                throw new UserErrorException($"--init {path}: layer {l + 1} is {init.Layers[l].Outputs}×{init.Layers[l].Inputs} in the file but {spec.Layers[l].Outputs}×{spec.Layers[l].Inputs} in the network");
    }
}
