using DistributedNN.Hosting;
using DistributedNN.Planning;
using DistributedNN.Training;
using DistributedNN.Transport;

namespace DistributedNN.Coordinator;

/// <summary>Where the workers of a distributed run come from.</summary>
public sealed record DistributedOptions
{
    /// <summary>Worker actors hosted in the coordinator's own ActorSystem.</summary>
    public int InProcessWorkers { get; init; }
    /// <summary>Worker processes started on this machine (127.0.0.1) and stopped at the end.</summary>
    public int SpawnedWorkers { get; init; }
    /// <summary>Workers to wait for before the first step (default: in-process + spawned).</summary>
    public int MinWorkers { get; init; }
    public NodeOptions Node { get; init; } = new();
    public TimeSpan StepTimeout { get; init; } = TimeSpan.FromSeconds(60);
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(120);
    /// <summary>How long to wait for workers when none are left mid-run.</summary>
    public TimeSpan WorkerWait { get; init; } = TimeSpan.FromSeconds(120);
    public DistributedNN.Serialization.Checkpointer? Checkpoints { get; init; }
    public IReadOnlyList<EpochResult>? PreviousEpochs { get; init; }
    public string WorkerLogLevel { get; init; } = "warning";
    /// <summary>How tensors, orders and results travel.</summary>
    public TransportKind Transport { get; init; } = TransportKind.Tcp;
    /// <summary>Who sums the gradients (<see cref="Transport.Topology"/>; sharded: tcp only).</summary>
    public Topology Topology { get; init; } = Topology.Star;
    /// <summary>
    /// How the node is protected (its loaded certificates are also in <see cref="NodeOptions.Tls"/>), passed on to spawned
    /// worker processes; null: as <see cref="NodeOptions.Tls"/> says, spawned workers then only without TLS (--insecure).
    /// </summary>
    public DistributedNN.Security.NodeSecurity? Security { get; init; }
    /// <summary>How shard gradients travel.</summary>
    public WireFormat GradientFormat { get; init; } = WireFormat.Fp32;
    /// <summary>How the weights travel to the workers (the coordinator's master copy stays float32).</summary>
    public WireFormat WeightFormat { get; init; } = WireFormat.Fp32;
    /// <summary>The fraction of each step's shards computed twice and compared bit for bit (0: the workers' results are trusted).</summary>
    public double VerifyFraction { get; init; }
    /// <summary>Told after every applied step (progress display, per-step metrics), with the ready workers; runs on the coordinator actor.</summary>
    public Action<TrainingState, int>? OnStep { get; init; }
}
