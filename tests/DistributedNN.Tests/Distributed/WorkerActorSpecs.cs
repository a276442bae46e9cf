using System.Net;
using Akka.Actor;
using Akka.TestKit.Xunit2;
using DistributedNN.Model;
using DistributedNN.Protocol;
using DistributedNN.Training;
using DistributedNN.Transport;
using DistributedNN.Worker;
using DistributedNN.Data;

namespace DistributedNN.Tests.Distributed;

/// <summary>The worker actor with a TestProbe as its coordinator and the test as the other end of its data plane.</summary>
[Trait(TestTiers.Category, TestTiers.Integration)]
public sealed class WorkerActorSpecs : TestKit
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    public WorkerActorSpecs() : base(TestKitSetup.RealNode()) { }

    [Theory]
    [InlineData(TransportKind.Tcp)]
    [InlineData(TransportKind.Akka)]
    public async Task Its_shard_gradients_and_evaluations_equal_the_engines_for_the_same_weights_and_samples(TransportKind transport)
    {
        var coordinator = CreateTestProbe();
        var worker = Sys.ActorOf(WorkerActor.Props(new WorkerActor.Settings("127.0.0.1", 0, 1, TestData.Csv, coordinator.Ref)));
        var register = coordinator.ExpectMsg<RegisterWorker>(Wait);
        var spec = NetworkSpec.FromSizes([4, 7, 5, 2], Activation.Sigmoid, Activation.Softmax, LossKind.CrossEntropy);
        var job = Guid.NewGuid();
        const int batch = 30, shards = 3;
        var link = await CoordinatorEnd.Open(transport, register, worker, coordinator);
        try
        {
            worker.Tell(new StartJob(job, spec.ToDescription(), TestData.Request, batch, shards, 9, true, LocalTrainer.EvaluationChunk, transport), coordinator.Ref);
            var ready = coordinator.ExpectMsg<WorkerReady>(Wait);
            var data = TestData.Load();
            Assert.Equal(data.Fingerprint, ready.DataFingerprint);

            var weights = new float[spec.ParameterCount];
            Initializer.Initialize(spec, weights, InitScheme.Xavier, 4);
            await link.Send(new TensorHeader(job, 7, 3, TensorKind.Weights, TensorHeader.NoShard, weights.Length), weights);
            await link.Send(WorkFrames.Order(new WorkOrder(WorkKind.Shards, job, 7, 3, 1, 2, [2, 0])));

            var plan = new DataPlan(data.Train.Count, batch, shards, 9, true);
            var batchIndices = plan.Batch(1, 2).ToArray();
            var bounds = new int[shards + 1];
            plan.ShardBounds(batchIndices.Length, bounds);
            foreach (int shard in new[] { 2, 0 })
            {
                var result = link.NextResult(spec.Layers.Count);
                var gradient = link.Next(TensorKind.ShardGradient);
                Assert.Equal((WorkKind.Shards, shard, spec.ParameterCount), (result.Kind, result.Item, result.GradientLength));
                Assert.Equal((job, 7L, 3L, shard), (gradient.Header.Job, gradient.Header.Step, gradient.Header.Version, gradient.Header.Shard));

                // the engine, directly, on the same samples
                var rows = batchIndices[bounds[shard]..bounds[shard + 1]];
                var x = rows.SelectMany(i => data.Train.Sample(i).ToArray()).ToArray();
                var y = rows.Select(i => data.Train.Labels[i]).ToArray();
                var expected = new float[spec.ParameterCount];
                var stats = new Backprop(spec, rows.Length).Gradient(weights, x, y, rows.Length, expected);
                Assert.Equal(expected, gradient.Payload);
                Assert.Equal((stats.LossSum, stats.Correct, rows.Length), (result.Stats.LossSum, result.Stats.Correct, result.Stats.Count));
                Assert.Equal(spec.Layers.Count, result.Activity.Length);
            }

            // evaluation chunks are computed with the same weights
            await link.Send(WorkFrames.Order(new WorkOrder(WorkKind.Evaluation, job, 8, 3, 0, 0, [0])));
            var eval = link.NextResult(spec.Layers.Count);
            var reference = LocalTrainer.EvaluateChunk(new Backprop(spec, LocalTrainer.EvaluationChunk), weights, data.Data.Test, 0);
            Assert.Equal((WorkKind.Evaluation, 0), (eval.Kind, eval.Item));
            Assert.Equal((reference.LossSum, reference.Correct, reference.Count), (eval.Stats.LossSum, eval.Stats.Correct, eval.Stats.Count));
        }
        finally
        {
            await link.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_second_job_on_the_same_data_plane_connection_is_served_by_its_own_link()
    {
        var coordinator = CreateTestProbe();
        var worker = Sys.ActorOf(WorkerActor.Props(new WorkerActor.Settings("127.0.0.1", 0, 1, TestData.Csv, coordinator.Ref)));
        var register = coordinator.ExpectMsg<RegisterWorker>(Wait);
        var spec = NetworkSpec.FromSizes([4, 3, 2], Activation.ReLU, Activation.Softmax, LossKind.CrossEntropy);
        var link = await CoordinatorEnd.Open(TransportKind.Tcp, register, worker, coordinator);
        try
        {
            foreach (var job in new[] { Guid.NewGuid(), Guid.NewGuid() })
            {
                worker.Tell(new StartJob(job, spec.ToDescription(), TestData.Request, 10, 2, 1, true, LocalTrainer.EvaluationChunk, TransportKind.Tcp), coordinator.Ref);
                coordinator.ExpectMsg<WorkerReady>(Wait);
                var weights = new float[spec.ParameterCount];
                Initializer.Initialize(spec, weights, InitScheme.He, 2);
                await link.Send(new TensorHeader(job, 0, 0, TensorKind.Weights, TensorHeader.NoShard, weights.Length), weights);
                await link.Send(WorkFrames.Order(new WorkOrder(WorkKind.Shards, job, 0, 0, 0, 0, [1])));
                var result = link.NextResult(spec.Layers.Count);
                Assert.Equal((job, 1), (result.Job, result.Item));
                Assert.Equal(job, link.Next(TensorKind.ShardGradient).Header.Job);
            }
        }
        finally
        {
            await link.DisposeAsync();
        }
    }

    /// <summary>A worker with a probe as its coordinator, ready for a small tcp job.</summary>
    private (Akka.TestKit.TestProbe Coordinator, IActorRef Worker, RegisterWorker Registration, Guid Job) WorkerReadyForAJob()
    {
        var coordinator = CreateTestProbe();
        var worker = Sys.ActorOf(WorkerActor.Props(new WorkerActor.Settings("127.0.0.1", 0, 1, TestData.Csv, coordinator.Ref)));
        var register = coordinator.ExpectMsg<RegisterWorker>(Wait);
        var spec = NetworkSpec.FromSizes([4, 3, 2], Activation.ReLU, Activation.Softmax, LossKind.CrossEntropy);
        var job = Guid.NewGuid();
        worker.Tell(new StartJob(job, spec.ToDescription(), TestData.Request, 10, 2, 1, true, LocalTrainer.EvaluationChunk, TransportKind.Tcp), coordinator.Ref);
        coordinator.ExpectMsg<WorkerReady>(Wait);
        return (coordinator, worker, register, job);
    }

    [Fact]
    public void A_worker_told_to_leave_tells_its_coordinator_and_stops()
    {
        var (coordinator, worker, register, job) = WorkerReadyForAJob();
        Watch(worker);
        worker.Tell(WorkerActor.Leave.Instance);
        var leaving = coordinator.ExpectMsg<WorkerLeaving>(Wait);
        Assert.Equal((job, worker), (leaving.Job, leaving.Worker));
        ExpectTerminated(worker, Wait);
        // its data plane is closed with it
        Assert.ThrowsAny<System.Net.Sockets.SocketException>(() =>
        {
            using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
            socket.Connect(IPAddress.Parse(register.DataPlaneHost), register.DataPlanePort);
        });
    }

    [Fact]
    public void A_worker_whose_job_is_done_leaves_without_a_notice()
    {
        var (coordinator, worker, _, job) = WorkerReadyForAJob();
        worker.Tell(new JobDone(job, "finished"), coordinator.Ref);
        Watch(worker);
        worker.Tell(WorkerActor.Leave.Instance);
        ExpectTerminated(worker, Wait);
        coordinator.ExpectNoMsg(TimeSpan.FromMilliseconds(300));
    }

    [Fact]
    public void A_worker_that_cannot_load_the_data_refuses_the_job_with_the_reason()
    {
        var coordinator = CreateTestProbe();
        string missing = Path.Combine(Path.GetTempPath(), "dnn-no-such-data-" + Guid.NewGuid().ToString("N"));
        var worker = Sys.ActorOf(WorkerActor.Props(new WorkerActor.Settings("127.0.0.1", 0, 1, missing, coordinator.Ref)));
        coordinator.ExpectMsg<RegisterWorker>(Wait);
        var spec = NetworkSpec.FromSizes([4, 3, 2], Activation.ReLU, Activation.Softmax, LossKind.CrossEntropy);
        worker.Tell(new StartJob(Guid.NewGuid(), spec.ToDescription(), new DataRequest(missing, 0.2, "last", null), 10, 2, 1, true, 256, TransportKind.Tcp), coordinator.Ref);
        var refused = coordinator.ExpectMsg<WorkerRefused>(Wait);
        Assert.Contains(missing, refused.Reason);
    }
}

/// <summary>
/// The test as a worker's coordinator, on the tcp transport (a data-plane connection to the worker's endpoint) or the
/// akka one (chunks from the coordinator probe): frames out, frames back, read with the real codec.
/// </summary>
internal sealed class CoordinatorEnd : IAsyncDisposable
{
    private readonly FrameCollector? _plane;
    private readonly TensorChannel? _channel;
    private readonly Akka.TestKit.TestProbe _probe;
    private readonly IActorRef _worker;

    private CoordinatorEnd(FrameCollector? plane, TensorChannel? channel, Akka.TestKit.TestProbe probe, IActorRef worker) =>
        (_plane, _channel, _probe, _worker) = (plane, channel, probe, worker);

    public static async Task<CoordinatorEnd> Open(TransportKind transport, RegisterWorker register, IActorRef worker, Akka.TestKit.TestProbe probe)
    {
        if (transport != TransportKind.Tcp) return new CoordinatorEnd(null, null, probe, worker);
        var (plane, channel) = await FrameCollector.ConnectAsync(new IPEndPoint(IPAddress.Parse(register.DataPlaneHost), register.DataPlanePort), register.AccessToken);
        return new CoordinatorEnd(plane, channel, probe, worker);
    }

    public async Task Send((TensorHeader Header, float[] Payload) frame) => await Send(frame.Header, frame.Payload);

    public async Task Send(TensorHeader header, float[] payload)
    {
        if (_channel is not null) await _channel.SendAsync(header, payload);
        else foreach (var chunk in TensorChunker.Split(header, payload, TensorChunker.SmallObjectChunkFloats)) _worker.Tell(chunk, _probe.Ref);
    }

    public (TensorHeader Header, float[] Payload) Next(TensorKind kind)
    {
        if (_plane is not null) return _plane.Next(kind);
        TensorAssembler? assembler = null;
        while (true)
        {
            var chunk = _probe.ExpectMsg<TensorChunk>(TimeSpan.FromSeconds(30));
            if (chunk.Header.Kind != kind) continue;
            assembler ??= new TensorAssembler(chunk.Header, new float[chunk.Header.Count]);
            Assert.True(assembler.TryAdd(chunk, out var why), why);
            if (assembler.IsComplete) return (chunk.Header, assembler.Destination.ToArray());
        }
    }

    public WorkResult NextResult(int layers)
    {
        var (header, payload) = Next(TensorKind.Result);
        return WorkFrames.ReadResult(header, payload, layers) ?? throw new InvalidOperationException($"unreadable result {header}");
    }

    public async ValueTask DisposeAsync()
    {
        if (_plane is not null) await _plane.DisposeAsync();
    }
}
