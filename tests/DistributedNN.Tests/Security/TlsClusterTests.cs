using System.Collections.Concurrent;
using System.Net;
using Akka.Actor;
using Akka.Actor.Dsl;
using Akka.Cluster;
using Akka.Remote;
using DistributedNN.Hosting;
using DistributedNN.Logging;
using DistributedNN.Model;
using DistributedNN.Protocol;
using DistributedNN.Security;
using DistributedNN.Tests.Distributed;
using DistributedNN.Training;
using DistributedNN.Transport;
using DistributedNN.Worker;
using DistributedNN.Data;

namespace DistributedNN.Tests.Security;

/// <summary>
/// A closed cluster of real nodes in this process (ActorSystems over TCP on 127.0.0.1, Akka.Remote with TLS):
/// a worker with the cluster's certificate trains; a node with another certificate, or none, never joins;
/// a worker's data plane refuses everyone but its coordinator.
/// </summary>
[Trait(TestTiers.Category, TestTiers.Integration)]
public sealed class TlsClusterTests : IAsyncLifetime
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);
    private readonly TestNodes _nodes = new();
    private readonly List<IDisposable> _certificates = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        await _nodes.DisposeAsync();
        foreach (var c in _certificates) c.Dispose();
    }

    private ClusterTls Load(Func<ClusterTls> load)
    {
        var tls = load();
        _certificates.Add(tls);
        return tls;
    }

    [Fact]
    public async Task A_worker_with_the_clusters_certificate_trains_and_nodes_without_it_are_refused()
    {
        var data = TestData.Load();
        var spec = NetworkSpec.FromSizes([4, 16, 2], Activation.Tanh, Activation.Softmax, LossKind.CrossEntropy);
        var p = new float[spec.ParameterCount];
        Initializer.Initialize(spec, p, InitScheme.Xavier, 1);
        var settings = new TrainingSettings(Epochs: 3, BatchSize: 32, Shards: 4, Seed: 2, Shuffle: true, new OptimizerSettings(OptimizerKind.Adam, 0.02f));
        var state = new TrainingState(spec, p, settings, data.Train.Count);

        var (seed, completion) = await _nodes.StartCoordinator(state, minWorkers: 1, TimeSpan.FromSeconds(60), tls: Load(TlsTestCertificates.Cluster));
        Assert.StartsWith("akka.ssl.tcp://", seed);
        // every node the coordinator's cluster ever lists, in any state (joining, up, leaving, …)
        var coordinator = _nodes.Coordinator!;
        var members = new ConcurrentQueue<Address>();
        var membership = coordinator.ActorOf(act => act.Receive<ClusterEvent.IMemberEvent>((e, _) => members.Enqueue(e.Member.Address)));
        Akka.Cluster.Cluster.Get(coordinator).Subscribe(membership, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents, typeof(ClusterEvent.IMemberEvent));

        // another cluster's certificate: the TLS handshake fails and Akka.Remote shuts the stranger's node down
        var stranger = await _nodes.StartWorker(seed, tls: Load(TlsTestCertificates.Stranger));
        await stranger.WhenTerminated.WaitAsync(Wait);
        Assert.Equal("TlsHandshakeFailureReason", CoordinatedShutdown.Get(stranger).ShutdownReason?.GetType().Name);

        // no certificate at all: plain Akka.Remote to the TLS port; the coordinator drops every attempt
        var plainSeed = DnnAkka.SeedAddress(seed, tls: false);
        var plain = await _nodes.StartWorker(plainSeed);
        // it keeps trying to join (every few seconds): each attempt's association is refused
        var refused = new TaskCompletionSource<AssociationErrorEvent>(TaskCreationOptions.RunContinuationsAsynchronously);
        var attempts = plain.ActorOf(act => act.Receive<AssociationErrorEvent>((e, _) =>
        {
            if (e.RemoteAddress.ToString() == plainSeed) refused.TrySetResult(e);
        }));
        plain.EventStream.Subscribe(attempts, typeof(AssociationErrorEvent));

        // the cluster's certificate: joins and trains (the coordinator waits for exactly one worker)
        var member = await _nodes.StartWorker(seed, tls: Load(TlsTestCertificates.Cluster));
        var outcome = await completion.WaitAsync(Wait);
        Assert.Equal(1, outcome.Workers);
        Assert.Equal(3, outcome.Epochs.Count);
        Assert.True(outcome.TensorBytesReceived > 0 && outcome.TensorBytesSent > 0);

        var refusal = await refused.Task.WaitAsync(Wait);
        Assert.StartsWith($"Association failed with {plainSeed}", refusal.Cause?.Message); // the coordinator's TLS port dropped the plain handshake
        // the coordinator's cluster never listed the refused nodes, only itself and the worker with the certificate
        string[] HostPort(IEnumerable<Address> addresses) => addresses.Select(a => $"{a.Host}:{a.Port}").Distinct().Order().ToArray();
        Assert.Equal(HostPort([Akka.Cluster.Cluster.Get(coordinator).SelfAddress, Akka.Cluster.Cluster.Get(member).SelfAddress]), HostPort(members));
        Assert.DoesNotContain($"{Akka.Cluster.Cluster.Get(plain).SelfAddress.Host}:{Akka.Cluster.Cluster.Get(plain).SelfAddress.Port}", HostPort(members));
        // and the plain node never had a cluster to be in: no gossip reached it, not even its own membership
        Assert.Empty(Akka.Cluster.Cluster.Get(plain).State.Members);

        // TLS changes nothing in the arithmetic: the same bits as one process
        var local = new float[spec.ParameterCount];
        Initializer.Initialize(spec, local, InitScheme.Xavier, 1);
        new LocalTrainer(spec, local, settings).Train(data.Train, data.Data.Test);
        Assert.Equal(TrainingState.HashWeights(local), outcome.WeightsSha256);
    }
}

/// <summary>The data plane of a real worker actor with TLS: only the coordinator it registered with may connect.</summary>
[Trait(TestTiers.Category, TestTiers.Integration)]
public sealed class TlsWorkerDataPlaneSpecs : Akka.TestKit.Xunit2.TestKit
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    public TlsWorkerDataPlaneSpecs() : base(TestKitSetup.RealNode()) { }

    [Fact]
    public async Task Only_the_clusters_certificate_with_the_registration_token_reaches_the_worker()
    {
        using var cluster = TlsTestCertificates.Cluster();
        using var stranger = TlsTestCertificates.Stranger();
        var coordinator = CreateTestProbe();
        Sys.ActorOf(WorkerActor.Props(new WorkerActor.Settings("127.0.0.1", 0, 1, TestData.Csv, coordinator.Ref, Tls: cluster)));
        var register = coordinator.ExpectMsg<RegisterWorker>(Wait);
        Assert.Equal(TensorHandshake.TokenSize, register.AccessToken?.Length);
        var endpoint = new IPEndPoint(IPAddress.Parse(register.DataPlaneHost), register.DataPlanePort);

        Task<TensorChannel> Connect(ClusterTls? tls, byte[]? token) => TensorChannel.ConnectAsync(endpoint,
            TensorChannelOptions.Default with { Tls = tls, AccessToken = token }, CancellationToken.None).WaitAsync(Wait);

        await Assert.ThrowsAsync<TensorAuthenticationException>(() => Connect(null, register.AccessToken));       // no certificate
        await Assert.ThrowsAsync<TensorAuthenticationException>(() => Connect(stranger, register.AccessToken));   // another cluster's
        await Assert.ThrowsAsync<TensorAuthenticationException>(() => Connect(cluster, TensorHandshake.NewToken())); // not its coordinator
        await using var accepted = await Connect(cluster, register.AccessToken);
        Assert.False(accepted.IsClosed);
    }
}
