using System.CommandLine;
using DistributedNN.Configuration;
using DistributedNN.Data;
using DistributedNN.Model;
using DistributedNN.Security;

namespace DistributedNN.Coordinator.Cli;

/// <summary>The options of `dnn train`, in the order its help lists them, and how a parsed command line becomes a <see cref="TrainRequest"/>.</summary>
internal sealed class TrainOptions
{
    private readonly Option<string?> _data = new("--data") { Description = "Data set: a folder with the four IDX files (MNIST/Fashion-MNIST, raw or .gz), a CSV file, or TRAIN.csv,TEST.csv. Default: $DNN_DATA, then /usr/share/datasets/fashion-mnist." };
    private readonly Option<string?> _modelSpec = new("--model-spec") { Description = "The network from a JSON or YAML model spec (convolution, pooling, dropout, skip connections; docs/MODEL_SPEC.md) instead of --layers/--activation/--output/--loss." };
    private readonly Option<string?> _layers = new("--layers") { Description = $"Layer sizes from input to output, e.g. {TrainCommand.DefaultLayers} (the default; with --init, the init file's)." };
    private readonly Option<string> _activation = new("--activation") { Description = $"Hidden activation: {Activations.HiddenNames}.", DefaultValueFactory = _ => "relu" };
    private readonly Option<string?> _output = new("--output") { Description = "Output activation: softmax (default for cross-entropy), sigmoid (default for sse/mse), identity, tanh, relu." };
    private readonly Option<string> _loss = new("--loss") { Description = "Loss: ce (softmax cross-entropy), sse (½·Σ(t−a)², the tutorial's), mse. Averaged over the batch.", DefaultValueFactory = _ => "ce" };
    private readonly Option<string> _optimizer = new("--optimizer") { Description = "sgd, momentum, nesterov, adam, adamw.", DefaultValueFactory = _ => "adam" };
    private readonly Option<float?> _lr = new("--lr") { Description = "Learning rate η (default: 0.05 for sgd/momentum/nesterov, 0.001 for adam/adamw)." };
    private readonly Option<float> _momentum = new("--momentum") { Description = "Momentum μ for momentum/nesterov.", DefaultValueFactory = _ => 0.9f };
    private readonly Option<float> _weightDecay = new("--weight-decay") { Description = "L2 weight decay λ (decoupled for adamw).", DefaultValueFactory = _ => 0f };
    private readonly Option<string> _weightDecayOn = new("--weight-decay-on") { Description = "Which parameters --weight-decay acts on: all (torch.optim's default) or weights (none on biases).", DefaultValueFactory = _ => "all" };
    private readonly Option<string> _lrSchedule = new("--lr-schedule") { Description = "The learning rate over the run: constant, step (×--lr-gamma every --lr-step-epochs), cosine (down to --lr-min by the last step), one-cycle (from lr/25 up to --lr in the first 30% of the steps, then down to lr/25/10⁴). Per step; as torch.optim.lr_scheduler.", DefaultValueFactory = _ => "constant" };
    private readonly Option<int> _warmupSteps = new("--warmup-steps") { Description = "Linear warm-up: the first N steps' rate rises as lr·(t+1)/N, then the schedule runs over the rest.", DefaultValueFactory = _ => 0 };
    private readonly Option<int> _lrStepEpochs = new("--lr-step-epochs") { Description = "With --lr-schedule step: epochs between decays.", DefaultValueFactory = _ => 0 };
    private readonly Option<float> _lrGamma = new("--lr-gamma") { Description = "With --lr-schedule step: the factor of each decay.", DefaultValueFactory = _ => 0.1f };
    private readonly Option<float> _lrMin = new("--lr-min") { Description = "With --lr-schedule cosine: the rate at the end.", DefaultValueFactory = _ => 0f };
    private readonly Option<int> _randomCrop = new("--random-crop") { Description = "Augment the training images: shift each by up to N pixels each way, zeros coming in (torchvision's RandomCrop with padding N); drawn from the seed, the epoch and the sample, so every worker sees the same pixels.", DefaultValueFactory = _ => 0 };
    private readonly Option<bool> _randomFlip = new("--random-flip") { Description = "Augment the training images: mirror each left–right with probability ½ (drawn like --random-crop)." };
    private readonly Option<float> _labelSmoothing = new("--label-smoothing") { Description = "Cross-entropy against (1 − ε)·one-hot + ε/classes in training (torch's label_smoothing); the test loss stays the plain one.", DefaultValueFactory = _ => 0f };
    private readonly Option<float> _clipNorm = new("--clip-norm") { Description = "Clip each step's gradient (the batch mean) to this global L2 norm, as torch.nn.utils.clip_grad_norm_ (0: none).", DefaultValueFactory = _ => 0f };
    private readonly Option<int> _batch = new("--batch") { Description = "Mini-batch size (global).", DefaultValueFactory = _ => 64 };
    private readonly Option<int> _epochs = new("--epochs") { Description = "Passes over the training set (0: save the initialised model, untrained).", DefaultValueFactory = _ => 5 };
    private readonly Option<long> _seed = new("--seed") { Description = "Seed of the initial weights and the data order.", DefaultValueFactory = _ => 1 };
    private readonly Option<int?> _shards = new("--shards") { Description = "Shards per mini-batch (fixed boundaries; part of the run's mathematics, like the batch size). Default: 4, or the batch size if smaller." };
    private readonly Option<bool> _noShuffle = new("--no-shuffle") { Description = "Keep the data set's order in every epoch." };
    private readonly Option<int?> _trainLimit = new("--train-limit") { Description = "Use only the first N training samples." };
    private readonly Option<double> _validationFraction = new("--validation-fraction") { Description = "Hold out this fraction F (0 < F < 1) of the training samples (after --train-limit) as a validation set, measured after every epoch; the run trains on the rest. The samples are a fixed random choice (the same for every run on the same data; not the last ones, as a folder or file may be ordered by class). 0: none.", DefaultValueFactory = _ => 0 };
    private readonly Option<int> _earlyStopping = new("--early-stopping") { Description = "Early stopping with this patience N: stop once N epochs in a row have not lowered the validation loss, and keep the weights of the epoch that had the lowest (the saved model, weights sha256). Needs --validation-fraction. 0: train every epoch.", DefaultValueFactory = _ => 0 };
    private readonly Option<string?> _init = new("--init") { Description = "Start from these weights: a model file (.dnn) or a JSON export of the same shape." };
    private readonly Option<string> _initScheme = new("--init-scheme") { Description = "Random initialisation: auto (He for ReLU layers, Xavier otherwise), xavier, he, pytorch.", DefaultValueFactory = _ => "auto" };
    private readonly Option<string?> _save = new("--save") { Description = "Write the trained model to this file." };
    private readonly Option<string?> _classNames = new("--class-names") { Description = "Class names the model keeps (predict shows them): fashion-mnist, or a comma-separated list, label 0 first." };
    private readonly Option<string?> _metricsOut = new("--metrics-out") { Description = "Write a JSON summary of the run to this file." };
    private readonly Option<double> _testFraction = new("--test-fraction") { Description = "For a single CSV file: the fraction held out as the test set.", DefaultValueFactory = _ => DataSource.DefaultTestFraction };
    private readonly Option<string?> _imageSize = new("--image-size") { Description = "For an image folder (DIR/train/<class>/*.png, DIR/test/<class>/…): resize every image to W×H, e.g. 32x32 (default: a model spec's input, else the first training image's size)." };
    private readonly Option<string> _labelColumn = new("--label-column") { Description = "For CSV: the label column: first, last or a 1-based number.", DefaultValueFactory = _ => "last" };
    private readonly Option<int> _threads = new("--threads") { Description = "Single-process: run the matrix products on this many threads (the same weights, bit for bit, for any number).", DefaultValueFactory = _ => 1 };
    private readonly Option<int> _workers = new("--workers") { Description = "Distributed: host this many worker actors in this process.", DefaultValueFactory = _ => 0 };
    private readonly Option<int> _spawnWorkers = new("--spawn-workers") { Description = "Distributed: start this many worker processes on this machine (stopped at the end).", DefaultValueFactory = _ => 0 };
    private readonly Option<int?> _minWorkers = new("--min-workers") { Description = "Distributed: wait for this many workers before the first step (default: --workers + --spawn-workers); others may join with dnn-worker --seed-nodes." };
    private readonly Option<string> _host = new("--host") { Description = "Distributed: address the coordinator binds to.", DefaultValueFactory = _ => "127.0.0.1" };
    private readonly Option<int> _port = new("--port") { Description = "Distributed: the coordinator's Akka.Remote port (0 = any free; workers on other machines need a fixed one, e.g. 4053).", DefaultValueFactory = _ => 0 };
    private readonly Option<string?> _publicHost = new("--public-host") { Description = "Distributed: the host name workers reach the coordinator by (default --host)." };
    private readonly Option<double> _stepTimeout = new("--step-timeout") { Description = "Distributed: seconds before a missing shard result is handed to another worker.", DefaultValueFactory = _ => 60 };
    private readonly Option<double> _startTimeout = new("--start-timeout") { Description = "Distributed: seconds to wait for --min-workers.", DefaultValueFactory = _ => 120 };
    private readonly Option<double> _workerWait = new("--worker-wait") { Description = "Distributed: seconds to wait for workers when none are left mid-run, before stopping.", DefaultValueFactory = _ => 120 };
    private readonly Option<string> _topology = new("--topology") { Description = "Distributed: who sums the gradients: star (the coordinator: every gradient up its link, the weights down it to every worker) or sharded (each worker owns a slice of the parameters, sums and updates it, and sends it to the others: the coordinator's link carries one sum; tcp only). The same weights either way. auto: the star for workers on this machine or fewer than 8; from 8 workers on other hosts, whichever the cost model (dnn plan) predicts faster.", DefaultValueFactory = _ => "auto" };
    private readonly Option<string> _transport = new("--transport") { Description = "Distributed: how weights and gradients travel: tcp (direct data-plane streams), shm (shared memory: workers on this machine only), akka (Akka.Remote chunks, a slower fallback), or auto: shm when every worker is in this process or spawned by it (no --tls-cert, fp32 formats), else tcp.", DefaultValueFactory = _ => "auto" };
    private readonly Option<string> _gradientFormat = new("--gradient-format") { Description = "Distributed: how shard gradients travel: fp32 (bit-identical to one process) or bf16 (half the bytes up, rounded to nearest even; weights stay fp32 and the sum is fp32).", DefaultValueFactory = _ => "fp32" };
    private readonly Option<string> _weightFormat = new("--weight-format") { Description = "Distributed: how the weights travel to the workers: fp32 or bf16 (half the bytes down; the workers compute with the rounded weights, the coordinator keeps and updates fp32 weights).", DefaultValueFactory = _ => "fp32" };
    private readonly Option<double> _verifyFraction = new("--verify-fraction") { Description = "Distributed: the fraction F (0 to 1) of each step's shards computed twice, by two workers (or by the coordinator when only one is healthy), and compared bit for bit; a worker whose result differs from the coordinator's own is quarantined and its work redone. 0 (the default) trusts the workers.", DefaultValueFactory = _ => 0 };
    private readonly Option<string> _logLevel = new("--log-level") { Description = "debug, info, warning, error: what stderr shows (the run folder's log file gets info and up).", DefaultValueFactory = _ => "warning" };
    private readonly Option<string?> _checkpointDir = new("--checkpoint-dir") { Description = "Write checkpoints (atomic, checksummed) into this folder, every --checkpoint-every steps and at each epoch's end." };
    private readonly Option<int> _checkpointEvery = new("--checkpoint-every") { Description = "Steps between checkpoints (0: only at epoch ends).", DefaultValueFactory = _ => 100 };
    private readonly Option<string?> _checkpointKey = new(DistributedNN.Serialization.CheckpointKey.Option) { Description = "With --checkpoint-dir or --resume: authenticate checkpoints with the secret in this file (at least 32 bytes, mode 600; e.g. head -c 32 /dev/urandom > FILE): each carries an HMAC-SHA256 under it, and --resume refuses one that does not." };
    private readonly Option<string?> _resume = new("--resume") { Description = "Continue the run checkpointed in this folder (its network and settings; the newest readable checkpoint); keeps checkpointing there." };
    private readonly TlsOptions _tls = new();
    private readonly Option<string?> _outDir = new("--out") { Description = "The run folder: model.dnn, metrics.json, epochs.csv and the plots loss.png, accuracy.png, gradient-norms.png (default: runs/<UTC time>)." };
    private readonly Option<string?> _compareActivations = new("--compare-activations") { Description = "Train the same network once per hidden activation in the list (instead of --activation, which it refuses), each into its own run folder <out>/<activation>/, and draw their gradient norms side by side on one scale in <out>/gradient-norms-compare.png, e.g. --compare-activations sigmoid,relu." };
    private readonly Option<string> _progress = new("--progress") { Description = "auto (a live progress bar on a terminal, one line per epoch otherwise), live, or plain.", DefaultValueFactory = _ => "auto" };
    private readonly Option<string> _logFormat = new("--log-format") { Description = "The run folder's log file: text (train.log) or json (train.jsonl: one compact JSON event per line, CLEF).", DefaultValueFactory = _ => "text" };

    /// <summary>Adds every option, and --config, to <paramref name="command"/>.</summary>
    public void AddTo(Command command)
    {
        foreach (var o in new Option[] { _data, _modelSpec, _layers, _activation, _output, _loss, _optimizer, _lr, _momentum, _weightDecay, _weightDecayOn, _lrSchedule, _warmupSteps, _lrStepEpochs, _lrGamma, _lrMin, _clipNorm, _labelSmoothing, _randomCrop, _randomFlip, _batch, _epochs, _seed, _shards, _noShuffle, _trainLimit, _validationFraction, _earlyStopping, _init, _initScheme, _save, _classNames, _metricsOut, _testFraction, _labelColumn, _imageSize,
            _threads, _workers, _spawnWorkers, _minWorkers, _host, _port, _publicHost, _stepTimeout, _startTimeout, _workerWait, _transport, _topology, _gradientFormat, _weightFormat, _logLevel, _checkpointDir, _checkpointEvery, _checkpointKey, _resume })
            command.Options.Add(o);
        command.Options.Add(_verifyFraction);
        _tls.AddTo(command);
        foreach (var o in new Option[] { _outDir, _compareActivations, _progress, _logFormat })
            command.Options.Add(o);
        command.Options.Add(ConfigArguments.Option());
    }

    public TrainRequest Read(ParseResult parse) => WithRecipe(parse, new()
    {
        Data = parse.GetValue(_data),
        Layers = parse.GetValue(_layers),
        ModelSpec = parse.GetValue(_modelSpec),
        ArchitectureOptionsGiven = new Option[] { _layers, _activation, _output, _loss }.Where(o => parse.GetResult(o) is { Implicit: false }).Select(o => o.Name).ToArray(),
        Activation = parse.GetValue(_activation)!,
        Output = parse.GetValue(_output),
        Loss = parse.GetValue(_loss)!,
        Optimizer = parse.GetValue(_optimizer)!,
        LearningRate = parse.GetValue(_lr),
        Momentum = parse.GetValue(_momentum),
        WeightDecay = parse.GetValue(_weightDecay),
        Batch = parse.GetValue(_batch),
        Epochs = parse.GetValue(_epochs),
        Seed = parse.GetValue(_seed),
        Shards = parse.GetValue(_shards),
        Shuffle = !parse.GetValue(_noShuffle),
        TrainLimit = parse.GetValue(_trainLimit),
        Init = parse.GetValue(_init),
        InitScheme = parse.GetValue(_initScheme)!,
        Save = parse.GetValue(_save),
        ClassNames = parse.GetValue(_classNames),
        MetricsOut = parse.GetValue(_metricsOut),
        TestFraction = parse.GetValue(_testFraction),
        LabelColumn = parse.GetValue(_labelColumn)!,
        ImageSize = parse.GetValue(_imageSize),
        Threads = parse.GetValue(_threads),
        Workers = parse.GetValue(_workers),
        SpawnWorkers = parse.GetValue(_spawnWorkers),
        MinWorkers = parse.GetValue(_minWorkers),
        Host = parse.GetValue(_host)!,
        Port = parse.GetValue(_port),
        PublicHost = parse.GetValue(_publicHost),
        StepTimeoutSeconds = parse.GetValue(_stepTimeout),
        StartTimeoutSeconds = parse.GetValue(_startTimeout),
        LogLevel = parse.GetValue(_logLevel)!,
        Transport = parse.GetValue(_transport)!,
        Topology = parse.GetValue(_topology)!,
        GradientFormat = parse.GetValue(_gradientFormat)!,
        WeightFormat = parse.GetValue(_weightFormat)!,
        VerifyFraction = parse.GetValue(_verifyFraction),
        WorkerWaitSeconds = parse.GetValue(_workerWait),
        CheckpointDir = parse.GetValue(_checkpointDir),
        CheckpointEvery = parse.GetValue(_checkpointEvery),
        CheckpointKey = parse.GetValue(_checkpointKey),
        Resume = parse.GetValue(_resume),
        Tls = _tls.Files(parse),
        Insecure = _tls.IsInsecure(parse),
        Out = parse.GetValue(_outDir),
        Progress = parse.GetValue(_progress)!,
        LogFormat = parse.GetValue(_logFormat)!,
        CompareActivations = parse.GetValue(_compareActivations),
        ActivationGiven = parse.GetResult(_activation) is { Implicit: false },
    });

    /// <summary>The schedule, clipping, weight-decay group, augmentation, smoothing and early-stopping options.</summary>
    private TrainRequest WithRecipe(ParseResult parse, TrainRequest request) => request with
    {
        WeightDecayOn = parse.GetValue(_weightDecayOn)!,
        LrSchedule = parse.GetValue(_lrSchedule)!,
        WarmupSteps = parse.GetValue(_warmupSteps),
        LrStepEpochs = parse.GetValue(_lrStepEpochs),
        LrGamma = parse.GetValue(_lrGamma),
        LrMin = parse.GetValue(_lrMin),
        ClipNorm = parse.GetValue(_clipNorm),
        RandomCrop = parse.GetValue(_randomCrop),
        RandomFlip = parse.GetValue(_randomFlip),
        LabelSmoothing = parse.GetValue(_labelSmoothing),
        ValidationFraction = parse.GetValue(_validationFraction),
        EarlyStopping = parse.GetValue(_earlyStopping),
    };
}
