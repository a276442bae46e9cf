using System.Collections.Concurrent;
using Akka.Actor;
using Akka.Actor.Dsl;
using Akka.Cluster;
using Akka.Event;
using DistributedNN.Hosting;
using DistributedNN.Model;
using DistributedNN.Protocol;
using DistributedNN.Security;
using DistributedNN.Tests.Distributed;
using DistributedNN.Training;

namespace DistributedNN.Tests.Security;

/// <summary>
/// The attacks of issue 15, from rogue ActorSystems in this process against a real coordinator and real workers over
/// TCP on 127.0.0.1, closed the default way (mutual TLS with a run's secret): a stranger without the secret cannot
/// stop, join or down anything; a node holding the secret but not registered as a worker cannot steer the job with
/// messages that name someone else. Each run ends with the fault-free weights, and every refused message is logged.
/// </summary>
[Trait(TestTiers.Category, TestTiers.Integration)]
public sealed class RogueNodeTests : IAsyncLifetime
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(90);
    private readonly TestNodes _nodes = new();
    private readonly RunSecret _secret = RunSecret.Create();
    private readonly List<IDisposable> _loaded = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        await _nodes.DisposeAsync();
        foreach (var d in _loaded) d.Dispose();
        _secret.Dispose();
    }

    private ClusterTls Secret()
    {
        var tls = _secret.Files.Load();
        _loaded.Add(tls);
        return tls;
    }

    private static (NetworkSpec Spec, TrainingSettings Settings, TrainingState State) Job(int epochs)
    {
        var data = TestData.Load();
        var spec = NetworkSpec.FromSizes([4, 16, 2], Activation.Tanh, Activation.Softmax, LossKind.CrossEntropy);
        var p = new float[spec.ParameterCount];
        Initializer.Initialize(spec, p, InitScheme.Xavier, 1);
        var settings = new TrainingSettings(Epochs: epochs, BatchSize: 32, Shards: 4, Seed: 2, Shuffle: true, new OptimizerSettings(OptimizerKind.Adam, 0.02f));
        return (spec, settings, new TrainingState(spec, p, settings, data.Train.Count));
    }

    /// <summary>The weights of the same run in one process: what every attacked run must still end with.</summary>
    private static string FaultFreeHash(NetworkSpec spec, TrainingSettings settings)
    {
        var data = TestData.Load();
        var local = new float[spec.ParameterCount];
        Initializer.Initialize(spec, local, InitScheme.Xavier, 1);
        new LocalTrainer(spec, local, settings).Train(data.Train, data.Data.Test);
        return TrainingState.HashWeights(local);
    }

    /// <summary>Completes when <paramref name="system"/> logs a warning or info line containing every one of <paramref name="parts"/>.</summary>
    private static Task Logged(ActorSystem system, params string[] parts)
    {
        var seen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var listener = system.ActorOf(act => act.Receive<LogEvent>((e, _) =>
        {
            string text = e.Message?.ToString() ?? "";
            if (parts.All(p => text.Contains(p, StringComparison.Ordinal))) seen.TrySetResult();
        }));
        system.EventStream.Subscribe(listener, typeof(Warning));
        system.EventStream.Subscribe(listener, typeof(Info));
        return seen.Task;
    }

    [Fact]
    public async Task A_stranger_without_the_run_secret_can_neither_stop_nor_join_nor_down_the_cluster()
    {
        var (spec, settings, state) = Job(epochs: 6);
        var (seed, completion) = await _nodes.StartCoordinator(state, minWorkers: 2, TimeSpan.FromSeconds(60), tls: Secret());
        var coordinator = _nodes.Coordinator!;
        var members = new ConcurrentQueue<Address>();
        var membership = coordinator.ActorOf(act => act.Receive<ClusterEvent.IMemberEvent>((e, _) => members.Enqueue(e.Member.Address)));
        Cluster.Get(coordinator).Subscribe(membership, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents, typeof(ClusterEvent.IMemberEvent));
        var firstReady = Logged(coordinator, "ready (1 of at least 2)");
        await _nodes.StartWorker(seed, tls: Secret());
        await firstReady.WaitAsync(Wait);

        // the stranger: plain Akka.Remote (it has no secret), with the worker role, trying to join, to down the
        // coordinator, and to stop it by path without joining
        string plainSeed = DnnAkka.SeedAddress(seed, tls: false);
        var stranger = await _nodes.StartWorker(plainSeed);
        var refused = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var attempts = stranger.ActorOf(act => act.Receive<Akka.Remote.AssociationErrorEvent>((e, _) =>
        {
            if (e.RemoteAddress.ToString() == plainSeed) refused.TrySetResult();
        }));
        stranger.EventStream.Subscribe(attempts, typeof(Akka.Remote.AssociationErrorEvent));
        stranger.ActorSelection($"{plainSeed}/user/{DnnAkka.CoordinatorName}").Tell(PoisonPill.Instance);
        Cluster.Get(stranger).Down(Address.Parse(plainSeed));
        await refused.Task.WaitAsync(Wait); // logged on its side; the coordinator's TLS port dropped the plain handshake

        // the second honest worker: the run starts, and ends as if the stranger had never been there
        await _nodes.StartWorker(seed, tls: Secret());
        var outcome = await completion.WaitAsync(Wait);
        Assert.Equal(2, outcome.Workers);
        Assert.Equal(FaultFreeHash(spec, settings), outcome.WeightsSha256);
        var strangerAddress = Cluster.Get(stranger).SelfAddress;
        Assert.DoesNotContain(members, m => m.Port == strangerAddress.Port);
        Assert.Empty(Cluster.Get(stranger).State.Members);
    }

    [Fact]
    public async Task A_node_with_the_secret_but_no_registration_cannot_stop_the_coordinator_or_remove_or_dismiss_a_worker()
    {
        var (spec, settings, state) = Job(epochs: 6);
        var (seed, completion) = await _nodes.StartCoordinator(state, minWorkers: 2, TimeSpan.FromSeconds(60), tls: Secret());
        var coordinator = _nodes.Coordinator!;
        var firstReady = Logged(coordinator, "ready (1 of at least 2)");
        var honest = await _nodes.StartWorker(seed, tls: Secret());
        await firstReady.WaitAsync(Wait);
        string honestPath = $"{Cluster.Get(honest).SelfAddress}/user/worker";

        // the insider: holds the secret (so it joins), is not a registered worker, and forges messages naming the honest worker
        var insider = await _nodes.StartWorker(seed, tls: Secret()); // its own worker actor registers too: only the forgeries matter
        var provider = ((ExtendedActorSystem)insider).Provider;
        var honestWorker = provider.ResolveActorRef(honestPath);
        var forger = insider.ActorOf(Props.Empty, "forger");
        var job = Guid.NewGuid();
        var coordinatorIgnored = Task.WhenAll(
            Logged(coordinator, "Ignored", nameof(WorkerRefused), "/user/forger", "not a registered worker"),
            Logged(coordinator, "Ignored", nameof(WorkerLeaving), "/user/forger", "not a registered worker"));
        var workerIgnored = Task.WhenAll(
            Logged(honest, "Ignored", nameof(RegistrationRejected), "/user/forger", "not this worker's coordinator"),
            Logged(honest, "Ignored", nameof(JobDone), "/user/forger", "not this worker's coordinator"));
        var coordinatorSelection = insider.ActorSelection($"{seed}/user/{DnnAkka.CoordinatorName}");
        coordinatorSelection.Tell(PoisonPill.Instance, forger); // untrusted mode: a harmful message by path is dropped
        coordinatorSelection.Tell(new WorkerRefused(job, honestWorker, "forged"), forger);
        coordinatorSelection.Tell(new WorkerLeaving(job, honestWorker), forger);
        honestWorker.Tell(new RegistrationRejected(job, "forged"), forger);
        honestWorker.Tell(new JobDone(job, "forged"), forger);
        await coordinatorIgnored.WaitAsync(Wait);
        await workerIgnored.WaitAsync(Wait);

        // the run goes on with the honest worker (and the insider's own registered worker) to the fault-free weights
        var outcome = await completion.WaitAsync(Wait);
        Assert.Equal(FaultFreeHash(spec, settings), outcome.WeightsSha256);
        Assert.True(outcome.Workers >= 2, $"{outcome.Workers} workers");
    }
}
