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

    [Fact]
    public async Task Its_shard_gradients_equal_the_engines_for_the_same_weights_and_samples()
    {
        var coordinator = CreateTestProbe();
        var worker = Sys.ActorOf(WorkerActor.Props(new WorkerActor.Settings("127.0.0.1", 0, 1, Coordinator: coordinator.Ref)));
        var register = coordinator.ExpectMsg<RegisterWorker>(Wait);
        var (plane, channel) = await FrameCollector.ConnectAsync(new IPEndPoint(IPAddress.Parse(register.DataPlaneHost), register.DataPlanePort), register.AccessToken);
        try
        {
            var spec = NetworkSpec.FromSizes([4, 7, 5, 2], Activation.Sigmoid, Activation.Softmax, LossKind.CrossEntropy);
            var job = Guid.NewGuid();
            const int batch = 30, shards = 3;
            worker.Tell(new StartJob(job, spec.ToDescription(), TestData.Request, batch, shards, 9, true, LocalTrainer.EvaluationChunk, "tcp"), coordinator.Ref);
            var ready = coordinator.ExpectMsg<WorkerReady>(Wait);
            var data = TestData.Load();
            Assert.Equal(data.Fingerprint, ready.DataFingerprint);

            var weights = new float[spec.ParameterCount];
            Initializer.Initialize(spec, weights, InitScheme.Xavier, 4);
            // the order first, the weights after: the worker must wait for them
            worker.Tell(new ComputeShards(job, 7, 3, 1, 2, [2, 0]), coordinator.Ref);
            await channel.SendAsync(new TensorHeader(job, 7, 3, TensorKind.Weights, TensorHeader.NoShard, weights.Length), weights);

            var plan = new DataPlan(data.Train.Count, batch, shards, 9, true);
            var batchIndices = plan.Batch(1, 2).ToArray();
            var bounds = new int[shards + 1];
            plan.ShardBounds(batchIndices.Length, bounds);
            foreach (int shard in new[] { 2, 0 })
            {
                var result = coordinator.ExpectMsg<ShardResult>(Wait);
                var frame = plane.Next(TensorKind.ShardGradient);
                Assert.Equal(shard, result.Shard);
                Assert.Equal((job, 7L, 3L, shard), (frame.Header.Job, frame.Header.Step, frame.Header.Version, frame.Header.Shard));

                // the engine, directly, on the same samples
                var rows = batchIndices[bounds[shard]..bounds[shard + 1]];
                var x = rows.SelectMany(i => data.Train.Sample(i).ToArray()).ToArray();
                var y = rows.Select(i => data.Train.Labels[i]).ToArray();
                var expected = new float[spec.ParameterCount];
                var stats = new Backprop(spec, rows.Length).Gradient(weights, x, y, rows.Length, expected);
                Assert.Equal(expected, frame.Payload);
                Assert.Equal(stats.LossSum, result.LossSum);
                Assert.Equal(stats.Correct, result.Correct);
                Assert.Equal(rows.Length, result.SampleCount);
            }

            // evaluation chunks are computed with the same weights
            worker.Tell(new EvaluateChunks(job, 3, [0]), coordinator.Ref);
            var eval = coordinator.ExpectMsg<EvaluationResult>(Wait);
            var reference = LocalTrainer.EvaluateChunk(new Backprop(spec, LocalTrainer.EvaluationChunk), weights, data.Data.Test, 0);
            Assert.Equal((reference.LossSum, reference.Correct, reference.Count), (eval.LossSum, eval.Correct, eval.SampleCount));
        }
        finally
        {
            await plane.DisposeAsync();
        }
    }

    /// <summary>A worker with a probe as its coordinator, ready for a small tcp job.</summary>
    private (Akka.TestKit.TestProbe Coordinator, IActorRef Worker, RegisterWorker Registration, Guid Job) WorkerReadyForAJob()
    {
        var coordinator = CreateTestProbe();
        var worker = Sys.ActorOf(WorkerActor.Props(new WorkerActor.Settings("127.0.0.1", 0, 1, Coordinator: coordinator.Ref)));
        var register = coordinator.ExpectMsg<RegisterWorker>(Wait);
        var spec = NetworkSpec.FromSizes([4, 3, 2], Activation.ReLU, Activation.Softmax, LossKind.CrossEntropy);
        var job = Guid.NewGuid();
        worker.Tell(new StartJob(job, spec.ToDescription(), TestData.Request, 10, 2, 1, true, LocalTrainer.EvaluationChunk, "tcp"), coordinator.Ref);
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
        worker.Tell(new JobDone(job, "finished"));
        Watch(worker);
        worker.Tell(WorkerActor.Leave.Instance);
        ExpectTerminated(worker, Wait);
        coordinator.ExpectNoMsg(TimeSpan.FromMilliseconds(300));
    }

    [Fact]
    public void A_worker_that_cannot_load_the_data_refuses_the_job_with_the_reason()
    {
        var coordinator = CreateTestProbe();
        var worker = Sys.ActorOf(WorkerActor.Props(new WorkerActor.Settings("127.0.0.1", 0, 1, Coordinator: coordinator.Ref)));
        coordinator.ExpectMsg<RegisterWorker>(Wait);
        var spec = NetworkSpec.FromSizes([4, 3, 2], Activation.ReLU, Activation.Softmax, LossKind.CrossEntropy);
        string missing = Path.Combine(Path.GetTempPath(), "dnn-no-such-data-" + Guid.NewGuid().ToString("N"));
        worker.Tell(new StartJob(Guid.NewGuid(), spec.ToDescription(), new DataRequest(missing, 0.2, "last", null), 10, 2, 1, true, 256, "tcp"), coordinator.Ref);
        var refused = coordinator.ExpectMsg<WorkerRefused>(Wait);
        Assert.Contains(missing, refused.Reason);
    }
}
