using Akka.Actor;
using Akka.TestKit.Xunit2;
using DistributedNN.Data;
using DistributedNN.Hosting;
using DistributedNN.Model;
using DistributedNN.Protocol;
using DistributedNN.Tests.Distributed;
using DistributedNN.Training;
using DistributedNN.Transport;
using DistributedNN.Worker;
using Microsoft.Extensions.Hosting;

namespace DistributedNN.Tests.Security;

/// <summary>
/// A worker on a node of its own (over TCP on 127.0.0.1) whose coordinator is this TestKit's probe: jobs out of bounds,
/// naming data outside the worker's root, or on a data file with a secret in it are refused with a one-line reason
/// that names the bound and never the file's contents.
/// </summary>
[Trait(TestTiers.Category, TestTiers.Integration)]
public sealed class StartJobLimitsSpecs : TestKit, IAsyncLifetime
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);
    private readonly List<IHost> _nodes = [];
    private readonly TempDirectory _dir = new();

    public StartJobLimitsSpecs() : base(TestKitSetup.RealNode()) { }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var node in _nodes)
        {
            await node.StopAsync(CancellationToken.None);
            node.Dispose();
        }
        _dir.Dispose();
    }

    /// <summary>A worker node whose coordinator is a probe of this test's system; its registration came over TCP.</summary>
    private async Task<(Akka.TestKit.TestProbe Coordinator, IActorRef Worker)> RemoteWorker(string? dataPath)
    {
        var node = await DnnAkka.StartNodeAsync(new NodeOptions { Roles = [DnnAkka.WorkerRole] });
        _nodes.Add(node);
        var probe = CreateTestProbe();
        var address = ((ExtendedActorSystem)Sys).Provider.DefaultAddress;
        // a reference, not a selection: untrusted mode drops selections of anything but the protocol's entry points
        var coordinator = ((ExtendedActorSystem)node.ActorSystemOf()).Provider.ResolveActorRef(probe.Ref.Path.ToSerializationFormatWithAddress(address)); // with its uid: the worker compares senders with it
        node.ActorSystemOf().ActorOf(WorkerActor.Props(new WorkerActor.Settings("127.0.0.1", 0, 1, dataPath, coordinator)), "worker");
        var register = probe.ExpectMsg<RegisterWorker>(Wait);
        Assert.Contains("akka.tcp://", register.Worker.Path.ToString()); // a remote worker: everything below crossed the wire
        return (probe, register.Worker);
    }

    private static StartJob Job(NetworkDescription? network = null, DataRequest? data = null, int batch = 10, int shards = 2, int chunk = 256) =>
        new(Guid.NewGuid(), network ?? NetworkSpec.FromSizes([4, 3, 2], Activation.ReLU, Activation.Softmax, LossKind.CrossEntropy).ToDescription(),
            data ?? TestData.Request, batch, shards, 1, true, chunk, TransportKind.Tcp);

    private static string Refused(Akka.TestKit.TestProbe coordinator, IActorRef worker, StartJob job)
    {
        worker.Tell(job, coordinator.Ref);
        var refused = coordinator.ExpectMsg<WorkerRefused>(Wait);
        Assert.Equal(job.Job, refused.Job);
        Assert.DoesNotContain('\n', refused.Reason);
        return refused.Reason;
    }

    [Fact]
    public async Task A_job_out_of_bounds_is_refused_naming_the_bound_and_a_job_within_them_is_taken()
    {
        var (coordinator, worker) = await RemoteWorker(TestData.Csv);
        NetworkDescription Stack(params int[] sizes) => new(sizes, Enumerable.Repeat("relu", sizes.Length - 2).Append("softmax").ToArray(), "cross-entropy");
        Assert.Contains("batch size 0 is outside 1..", Refused(coordinator, worker, Job(batch: 0)));
        Assert.Contains($"batch size 2000000 is outside 1..{ProtocolLimits.MaxBatchSize}", Refused(coordinator, worker, Job(batch: 2_000_000)));
        Assert.Contains("shard count 100000 is outside", Refused(coordinator, worker, Job(batch: 1_000_000, shards: 100_000)));
        Assert.Contains("evaluation chunk -1", Refused(coordinator, worker, Job(chunk: -1)));
        Assert.Contains($"layer size 20000000 is outside 1..{ProtocolLimits.MaxLayerWidth}", Refused(coordinator, worker, Job(Stack(4, 20_000_000, 2))));
        Assert.Contains($"more than {ProtocolLimits.MaxLayers} layers", Refused(coordinator, worker, Job(Stack([4, .. Enumerable.Repeat(3, 2000), 2]))));
        // 4·100000 + 100000² + …: ten billion parameters, each size within bounds (an int count would have wrapped around)
        Assert.Contains($"more than {ProtocolLimits.MaxParameters} parameters", Refused(coordinator, worker, Job(Stack(4, 100_000, 100_000, 2))));
        Assert.Contains("activations are more than", Refused(coordinator, worker, Job(Stack(4, 1_000_000, 2), batch: 1000)));
        Assert.Contains("the data path has 10000 characters", Refused(coordinator, worker, Job(data: TestData.Request with { Path = new string('a', 10_000) })));
        Assert.Contains("the model spec has", Refused(coordinator, worker, Job(Stack(4, 3, 2) with { Graph = new string(' ', ProtocolLimits.MaxGraphChars + 1) })));
        // and the worker still takes a job within them
        var job = Job();
        worker.Tell(job, coordinator.Ref);
        Assert.Equal(job.Job, coordinator.ExpectMsg<WorkerReady>(Wait).Job);
    }

    [Fact]
    public async Task A_job_naming_data_outside_the_workers_data_root_is_refused()
    {
        var (coordinator, worker) = await RemoteWorker(dataPath: null); // no --data: its root is $DNN_DATA or the installed data set
        string? root = null;
        try { root = DataSource.Resolve(null).Path; }
        catch (UserErrorException) { /* neither is there on this machine: the worker has no root at all */ }
        string why = root is null ? "this worker has no data root" : "it is outside this worker's data root";
        string[] paths = root is null ? ["/etc/passwd", TestData.Csv]
            : ["/etc/passwd", TestData.Csv, Path.Combine(root, "..", "..", "..", "..", "..", "etc", "passwd"), $"{root}/a.csv,/etc/passwd"];
        foreach (var path in paths)
        {
            string reason = Refused(coordinator, worker, Job(data: TestData.Request with { Path = path }));
            Assert.Contains($"the job's data {path} is not loaded: {why}", reason);
            Assert.Contains("start the worker with --data", reason);
        }
    }

    [Fact]
    public async Task A_data_file_error_names_the_line_and_column_but_never_sends_the_files_contents()
    {
        string secret = "hunter2-" + Guid.NewGuid().ToString("N");
        string csv = _dir.File("secret.csv");
        File.WriteAllLines(csv, ["a,b,label", "1,2,0", $"{secret},3,1", "4,5,0"]);
        var (coordinator, worker) = await RemoteWorker(csv);
        string reason = Refused(coordinator, worker, Job(data: new DataRequest("/anything", 0.2, "last", null)));
        Assert.Equal($"{csv} line 3: column 1 is not a number", reason);
        Assert.DoesNotContain("hunter2", reason);
    }
}
