using System.Net;
using Akka.Actor;
using Akka.Cluster;
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

        // another cluster's certificate: the TLS handshake fails and Akka.Remote shuts the stranger's node down
        var stranger = await _nodes.StartWorker(seed, tls: Load(TlsTestCertificates.Stranger));
        await stranger.WhenTerminated.WaitAsync(Wait);
        Assert.Equal("TlsHandshakeFailureReason", CoordinatedShutdown.Get(stranger).ShutdownReason?.GetType().Name);

        // no certificate at all: plain Akka.Remote to the TLS port; the coordinator drops every attempt
        var plainSeed = DnnAkka.SeedAddress(seed, tls: false);
        var plain = await _nodes.StartWorker(plainSeed);

        // the cluster's certificate: joins and trains (the coordinator waits for exactly one worker)
        await _nodes.StartWorker(seed, tls: Load(TlsTestCertificates.Cluster));
        var outcome = await completion.WaitAsync(Wait);
        Assert.Equal(1, outcome.Workers);
        Assert.Equal(3, outcome.Epochs.Count);
        Assert.True(outcome.TensorBytesReceived > 0 && outcome.TensorBytesSent > 0);
        Assert.NotEqual(MemberStatus.Up, Akka.Cluster.Cluster.Get(plain).SelfMember.Status);
        Assert.DoesNotContain(Akka.Cluster.Cluster.Get(plain).State.Members, m => m.HasRole(DnnAkka.CoordinatorRole));

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
        Sys.ActorOf(WorkerActor.Props(new WorkerActor.Settings("127.0.0.1", 0, 1, Coordinator: coordinator.Ref, Tls: cluster)));
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
