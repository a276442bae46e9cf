using Akka.Actor;
using Akka.Cluster;
using DistributedNN.Hosting;
using DistributedNN.Logging;
using Microsoft.Extensions.Hosting;
using Serilog;

namespace DistributedNN.Worker;

/// <summary>Runs a worker node: joins the cluster, serves one job, leaves.</summary>
public static class WorkerHost
{
    private const string Finished = "finished";
    private const string CoordinatorLeft = "the coordinator left the cluster";
    private const string CutOff = "this node left the cluster (downed or cut off from the coordinator)";
    private const string Stopped = "stopped (SIGTERM or Ctrl+C); left the cluster";

    /// <summary>
    /// 0 when the job finished or the worker was stopped (SIGTERM, Ctrl+C: it told the coordinator and left); 1 when the worker was refused, could not join, or lost the coordinator and could
    /// not rejoin. A coordinator that vanishes mid-job (killed, its machine gone, cut off) may come back —
    /// resumed from its checkpoint on the same address — so the worker tries to join again for up to
    /// <see cref="WorkerHostOptions.JoinTimeout"/> before it gives up, on a fresh node (a downed node cannot rejoin).
    /// </summary>
    public static async Task<int> RunAsync(WorkerHostOptions options, CancellationToken ct)
    {
        if (options.Node.SeedNodes.Count == 0)
            throw new UserErrorException("a worker needs --seed-nodes (or DNN_SEED_NODES): the coordinator's address, e.g. akka.tcp://dnn@127.0.0.1:4053");
        bool rejoining = false;
        while (true)
        {
            var (outcome, joined) = await RunSessionAsync(options, rejoining, ct);
            if (outcome is Finished or Stopped)
            {
                Log.Information("Worker leaving: {Outcome}", outcome == Finished ? "the job is finished" : outcome);
                return 0;
            }
            // a coordinator that left was a member this node saw: it had joined, even if a short job ended before this node
            // itself saw its own Up (the leader's next round), as a fast coordinator killed within a second of the join does
            if ((joined || outcome == CoordinatorLeft) && outcome is CoordinatorLeft or CutOff && !ct.IsCancellationRequested)
            {
                Log.Warning("Lost the coordinator ({Outcome}); trying to rejoin {Seeds} for up to {Seconds:F0} s (a resumed coordinator takes this worker back)",
                    outcome, string.Join(", ", options.Node.SeedNodes), options.JoinTimeout.TotalSeconds);
                rejoining = true;
                continue;
            }
            Log.Error("Worker leaving: {Outcome}", outcome);
            return 1;
        }
    }

    /// <summary>One membership of the cluster: a node, a worker actor, until the job ends or the node is gone.</summary>
    private static async Task<(string Outcome, bool Joined)> RunSessionAsync(WorkerHostOptions options, bool rejoining, CancellationToken ct)
    {
        var done = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var host = await DnnAkka.StartNodeAsync(options.Node with { Roles = [DnnAkka.WorkerRole] }, ct: ct);
        var system = host.ActorSystemOf();
        var cluster = Akka.Cluster.Cluster.Get(system);
        system.ActorOf(Props.Create(() => new CoordinatorWatch(done)), "coordinator-watch");
        string dataHost = options.Node.AdvertisedHost();
        var worker = system.ActorOf(WorkerActor.Props(new WorkerActor.Settings(options.Node.Host, options.Node.DataPort, options.Cores, options.DataPath, AdvertisedHost: dataHost,
            OnJobDone: outcome => done.TrySetResult(outcome), Tls: options.Node.Tls?.DataPlane)), "worker");
        var shutdown = CoordinatedShutdown.Get(system);
        // the first thing a stopping node does, whatever stops it (SIGTERM, Ctrl+C, the end of the job): the worker tells the
        // coordinator it is leaving and closes its data plane, so its shards go to the others now rather than after the
        // cluster leave's gossip rounds (seconds), which a short run may not even outlast
        shutdown.AddTask(CoordinatedShutdown.PhaseBeforeServiceUnbind, "dnn-leave-job", async () =>
        {
            if (shutdown.ShutdownReason is CoordinatedShutdown.ClrExitReason) done.TrySetResult(Stopped); // a signal, not a failure (TLS) or the job's end
            try { await worker.GracefulStop(TimeSpan.FromSeconds(10), WorkerActor.Leave.Instance); }
            catch (Exception e) when (e is TaskCanceledException or AskTimeoutException) { Log.Warning("The worker actor did not stop within 10 s; leaving the cluster anyway"); }
            return Akka.Done.Instance;
        });
        Log.Information("Worker node {Address} joining {Seeds}", cluster.SelfAddress, string.Join(", ", options.Node.SeedNodes));

        using var reg = ct.Register(() => done.TrySetResult(Stopped));
        // downed (e.g. cut off from the coordinator): the node is gone, so is this session
        _ = system.WhenTerminated.ContinueWith(_ => done.TrySetResult(
            CoordinatedShutdown.Get(system).ShutdownReason?.GetType().Name == "TlsHandshakeFailureReason"
                ? "the TLS handshake with the cluster failed: the coordinator does not trust this node's certificate, or this node not the coordinator's (--tls-cert, --tls-ca)"
                : CutOff), TaskScheduler.Default);
        var joined = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        cluster.RegisterOnMemberUp(() => joined.TrySetResult());
        var first = await Task.WhenAny(joined.Task, done.Task, Task.Delay(options.JoinTimeout, CancellationToken.None));
        string outcome = first == joined.Task ? await done.Task : done.Task.IsCompleted ? await done.Task
            : $"could not {(rejoining ? "rejoin" : "join")} the cluster at {string.Join(", ", options.Node.SeedNodes)} within {options.JoinTimeout.TotalSeconds:F0} s" +
              (options.Node.Tls is null ? " (is the coordinator running and reachable? does the cluster use TLS?)"
                  : " (is the coordinator running with TLS, and does it trust this node's certificate, and this node its?)");
        if (!system.WhenTerminated.IsCompleted) await shutdown.Run(CoordinatedShutdown.ClusterLeavingReason.Instance);
        await host.StopAsync(CancellationToken.None);
        host.Dispose();
        return (outcome, joined.Task.IsCompleted);
    }

    /// <summary>Ends the worker when the coordinator's node leaves or becomes unreachable for good.</summary>
    private sealed class CoordinatorWatch : ReceiveActor
    {
        public CoordinatorWatch(TaskCompletionSource<string> done)
        {
            Receive<ClusterEvent.MemberRemoved>(m =>
            {
                if (m.Member.HasRole(DnnAkka.CoordinatorRole)) done.TrySetResult("the coordinator left the cluster");
            });
            Receive<ClusterEvent.IMemberEvent>(_ => { });
            Receive<ClusterEvent.CurrentClusterState>(_ => { });
        }

        protected override void PreStart() =>
            Akka.Cluster.Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.InitialStateAsSnapshot, typeof(ClusterEvent.MemberRemoved));

        protected override void PostStop() => Akka.Cluster.Cluster.Get(Context.System).Unsubscribe(Self);
    }
}
