using Akka.Actor;
using DistributedNN.Coordinator;
using DistributedNN.Protocol;

namespace DistributedNN.Tests.Coordination;

/// <summary>Workers cut off while their node is unreachable, without a cluster: the plain class the coordinator feeds the cluster's events.</summary>
public sealed class WorkerReachabilityTests
{
    /// <summary>A worker actor on another node, as the registry sees one (nothing is ever sent to it here).</summary>
    private sealed class RemoteWorkerRef(string node) : MinimalActorRef
    {
        public override ActorPath Path { get; } = new RootActorPath(Address.Parse(node)) / "user" / "worker";
        public override IActorRefProvider Provider => throw new NotSupportedException("a stand-in: no system behind it");
    }

    private const string NodeA = "akka.ssl.tcp://dnn@127.0.0.1:5001", NodeB = "akka.ssl.tcp://dnn@127.0.0.1:5002", NodeC = "akka.ssl.tcp://dnn@127.0.0.1:5003";
    private readonly WorkerRegistry _registry = new();
    private readonly WorkScheduler _scheduler = new();
    private readonly WorkerReachability _reachability;

    public WorkerReachabilityTests() => _reachability = new WorkerReachability(_registry, _scheduler);

    private RegisteredWorker Register(string node)
    {
        var actor = new RemoteWorkerRef(node);
        return _registry.Add(actor, new RegisterWorker(actor, "127.0.0.1", 6000, 1), out _)!;
    }

    private void Admit(RegisteredWorker worker)
    {
        _scheduler.Add(worker.Id, worker.Capacity);
        _reachability.Admitted(worker);
    }

    [Fact]
    public void A_worker_on_an_unreachable_node_is_cut_off_until_the_node_is_reachable_again()
    {
        RegisteredWorker a = Register(NodeA), b = Register(NodeB);
        Admit(a);
        Admit(b);
        _scheduler.Begin(4);
        _reachability.BeginRound();
        _scheduler.Dispatch(); // a: 0, 2; b: 1, 3
        Assert.True(_reachability.Unreachable(Address.Parse(NodeA)));
        Assert.True(_scheduler.IsCutOff(a.Id));
        Assert.False(_scheduler.IsCutOff(b.Id));
        Assert.Equal(-1, _scheduler.Owner(0)); // its items are queued for the others
        Assert.Equal(-1, _scheduler.Owner(2));
        Assert.False(_reachability.Unreachable(Address.Parse(NodeA))); // told twice: nothing more
        Assert.Equal([a.Name], _reachability.CutOffInRound);

        Assert.True(_reachability.Reachable(Address.Parse(NodeA)));
        Assert.False(_scheduler.IsCutOff(a.Id));
        Assert.False(_reachability.Reachable(Address.Parse(NodeA)));
        Assert.Equal([a.Name], _reachability.CutOffInRound); // cut off during this round: its times in it are not counted
        _reachability.BeginRound();
        Assert.Empty(_reachability.CutOffInRound);
    }

    [Fact]
    public void A_worker_whose_node_is_unreachable_before_it_is_ready_is_cut_off_when_admitted()
    {
        var c = Register(NodeC);
        Assert.False(_reachability.Unreachable(Address.Parse(NodeC))); // not in the scheduler yet: nobody's health changed
        Admit(c);
        Assert.True(_scheduler.IsCutOff(c.Id));
        Assert.False(_scheduler.AnyHealthy);
        _reachability.BeginRound();
        Assert.Equal([c.Name], _reachability.CutOffInRound);
        Assert.True(_reachability.Reachable(Address.Parse(NodeC)));
        Assert.True(_scheduler.AnyHealthy);
    }

    [Fact]
    public void Only_the_workers_on_the_unreachable_node_are_cut_off()
    {
        RegisteredWorker a = Register(NodeA), b = Register(NodeB);
        Admit(a);
        Admit(b);
        Assert.False(_reachability.Unreachable(Address.Parse("akka.ssl.tcp://dnn@127.0.0.1:5009"))); // a node with no worker (another coordinator's, say)
        Assert.False(_reachability.Unreachable(Address.Parse("akka.ssl.tcp://dnn@127.0.0.2:5001"))); // same port, another host
        Assert.Equal(2, _scheduler.HealthyCount);
    }
}
