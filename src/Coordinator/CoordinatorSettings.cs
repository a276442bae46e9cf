using DistributedNN.Planning;
using DistributedNN.Security;
using DistributedNN.Training;
using DistributedNN.Transport;

namespace DistributedNN.Coordinator;

/// <summary>Everything a coordinator actor is made with, in small groups.</summary>
public sealed record CoordinatorSettings(TrainingJob Job, ClusterPolicy Policy, WireSettings Wire, JobHooks Hooks);

/// <summary>How long the coordinator waits, and for how many workers.</summary>
/// <param name="MinWorkers">workers ready before the first step</param>
/// <param name="StepTimeout">before a missing result is handed to another worker</param>
/// <param name="StartTimeout">for <paramref name="MinWorkers"/> to be ready</param>
/// <param name="WorkerWait">for a worker to (re)join when none is left mid-run, before the run stops</param>
/// <param name="WorkerCredentials">what a worker started by hand must be given to join (e.g. "--tls-cert FILE"), for messages</param>
public sealed record ClusterPolicy(int MinWorkers, TimeSpan StepTimeout, TimeSpan StartTimeout, TimeSpan WorkerWait, string WorkerCredentials = "")
{
    public static ClusterPolicy Default { get; } = new(1, TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(120), TimeSpan.FromSeconds(120));
}

/// <summary>How tensors travel: the transport, the formats of gradients and weights, the data plane's TLS, and whether gradients are
/// reduced by the coordinator (star) or by slice owners on the workers (sharded).</summary>
public sealed record WireSettings(TransportKind Transport = TransportKind.Tcp, WireFormat Gradients = WireFormat.Fp32, WireFormat Weights = WireFormat.Fp32,
    ClusterTls? Tls = null, Topology Topology = Topology.Star);

/// <summary>Who hears about the run: after every epoch and every applied step (on the coordinator's thread), and at its end.</summary>
public sealed record JobHooks(TaskCompletionSource<TrainingOutcome> Completion, Action<EpochResult>? OnEpoch = null, Action<TrainingState, int>? OnStep = null);
