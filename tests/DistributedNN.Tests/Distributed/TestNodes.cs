using DistributedNN.Hosting;
using DistributedNN.Logging;
using DistributedNN.Coordinator;
using DistributedNN.Training;
using DistributedNN.Transport;
using DistributedNN.Worker;
using DistributedNN.Data;
using Microsoft.Extensions.Hosting;

namespace DistributedNN.Tests.Distributed;

/// <summary>Real cluster nodes in this test process (each its own ActorSystem on 127.0.0.1), stopped on dispose.</summary>
internal sealed class TestNodes : IAsyncDisposable
{
    private readonly List<IHost> _nodes = new();

    /// <summary>The ActorSystem of the coordinator node last started.</summary>
    public Akka.Actor.ActorSystem? Coordinator { get; private set; }

    /// <summary>A coordinator node running <paramref name="state"/> on the test data; returns the seed address and the outcome.</summary>
    public async Task<(string Seed, Task<TrainingOutcome> Outcome)> StartCoordinator(TrainingState state, int minWorkers, TimeSpan stepTimeout, TransportKind transport = TransportKind.Tcp,
        DistributedNN.Security.ClusterTls? tls = null)
    {
        var data = TestData.Load();
        var node = await DnnAkka.StartNodeAsync(new NodeOptions { Roles = [DnnAkka.CoordinatorRole], Tls = tls });
        _nodes.Add(node);
        Coordinator = node.ActorSystemOf();
        var completion = new TaskCompletionSource<TrainingOutcome>(TaskCreationOptions.RunContinuationsAsynchronously);
        var job = new TrainingJob(Guid.NewGuid(), state, TestData.Request, data.Fingerprint, data.Data.Test.Count);
        var policy = ClusterPolicy.Default with { MinWorkers = minWorkers, StepTimeout = stepTimeout, StartTimeout = TimeSpan.FromSeconds(60) };
        node.ActorSystemOf().ActorOf(CoordinatorActor.Props(new CoordinatorSettings(job, policy, new WireSettings(transport, Tls: tls?.DataPlane), new JobHooks(completion))),
            DnnAkka.CoordinatorName);
        return (Akka.Cluster.Cluster.Get(node.ActorSystemOf()).SelfAddress.ToString(), completion.Task);
    }

    /// <summary>A worker node that joins <paramref name="seed"/> and finds the coordinator through the cluster.</summary>
    public async Task<Akka.Actor.ActorSystem> StartWorker(string seed, int maxFrameBytes = DnnAkka.MaxFrameBytes, DistributedNN.Security.ClusterTls? tls = null)
    {
        var node = await DnnAkka.StartNodeAsync(new NodeOptions { Roles = [DnnAkka.WorkerRole], SeedNodes = [seed], MaxFrameBytes = maxFrameBytes, Tls = tls });
        _nodes.Add(node);
        node.ActorSystemOf().ActorOf(WorkerActor.Props(new WorkerActor.Settings("127.0.0.1", 0, 1, TestData.Csv, Tls: tls?.DataPlane)), "worker");
        return node.ActorSystemOf();
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var node in _nodes)
        {
            await node.StopAsync(CancellationToken.None);
            node.Dispose();
        }
    }
}
