using DistributedNN.Data;

namespace DistributedNN.Coordinator.Cli;

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
    public string WeightDecayOn { get; init; } = "all";
    public string LrSchedule { get; init; } = "constant";
    public int WarmupSteps { get; init; }
    public int LrStepEpochs { get; init; }
    public float LrGamma { get; init; } = 0.1f;
    public float LrMin { get; init; }
    public float ClipNorm { get; init; }
    public int RandomCrop { get; init; }
    public bool RandomFlip { get; init; }
    public float LabelSmoothing { get; init; }
    public int Batch { get; init; } = 64;
    public int Epochs { get; init; } = 5;
    public long Seed { get; init; } = 1;
    public int? Shards { get; init; }
    public bool Shuffle { get; init; } = true;
    public int? TrainLimit { get; init; }
    /// <summary>The part of the training samples held out for validation (0: none).</summary>
    public double ValidationFraction { get; init; }
    /// <summary>Early stopping's patience in epochs (0: none).</summary>
    public int EarlyStopping { get; init; }
    public string? Init { get; init; }
    public string InitScheme { get; init; } = "auto";
    public string? Save { get; init; }
    public string? ClassNames { get; init; }
    public string? MetricsOut { get; init; }
    public double TestFraction { get; init; } = DataSource.DefaultTestFraction;
    public string LabelColumn { get; init; } = "last";
    public string? ImageSize { get; init; }
    public int Threads { get; init; } = 1;
    /// <summary>Mutual TLS on both planes of a distributed run (null: plain TCP).</summary>
    public DistributedNN.Security.TlsFiles? Tls { get; init; }
    /// <summary>--insecure: a cluster run without TLS (without it, one on 127.0.0.1 runs with a per-run secret).</summary>
    public bool Insecure { get; init; }
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
    /// <summary>tcp, shm, akka or auto (<see cref="WireChoice.AutoTransport"/>).</summary>
    public string Transport { get; init; } = "auto";
    /// <summary>star, sharded or auto (<see cref="WireChoice.For"/>).</summary>
    public string Topology { get; init; } = "auto";
    public string GradientFormat { get; init; } = "fp32";
    public string WeightFormat { get; init; } = "fp32";
    /// <summary>The fraction of each step's shards computed twice and compared (<see cref="ShardVerification"/>).</summary>
    public double VerifyFraction { get; init; }
    public double WorkerWaitSeconds { get; init; } = 120;
    public string? CheckpointDir { get; init; }
    public int CheckpointEvery { get; init; } = 100;
    /// <summary>The file of the key that authenticates checkpoints (<see cref="DistributedNN.Serialization.CheckpointKey"/>); null: none.</summary>
    public string? CheckpointKey { get; init; }
    public string? Resume { get; init; }

    public bool Distributed => Workers > 0 || SpawnWorkers > 0 || MinWorkers is > 0;

    public string Mode => !Distributed ? "single-process"
        : SpawnWorkers > 0 ? "multi-process"
        : MinWorkers is int m && m > Workers ? "cluster"
        : "in-process";
}
