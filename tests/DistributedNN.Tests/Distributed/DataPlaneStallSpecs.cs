using System.Diagnostics;
using System.Net;
using Akka.TestKit.Xunit2;
using DistributedNN.Coordinator;
using DistributedNN.Model;
using DistributedNN.Protocol;
using DistributedNN.Tests.Transport;
using DistributedNN.Training;
using DistributedNN.Transport;
using DistributedNN.Worker;

namespace DistributedNN.Tests.Distributed;

/// <summary>
/// The tcp data plane under a real coordinator and a real worker: a second worker whose data plane stops reading is
/// dropped at the step timeout and the run ends with the fault-free weights; a connection to a worker's data plane with
/// the wrong token is refused and logged.
/// </summary>
[Trait(TestTiers.Category, TestTiers.Integration)]
public sealed class DataPlaneStallSpecs : TestKit
{
    private static readonly TimeSpan StepTimeout = TimeSpan.FromSeconds(3);

    public DataPlaneStallSpecs() : base(TestKitSetup.RealNode()) { }

    [Fact]
    public async Task A_worker_that_stops_reading_is_dropped_at_the_step_timeout_and_the_run_ends_with_the_fault_free_weights()
    {
        var data = TestData.Load();
        // 3 M parameters, 12 MB of weights: one weights frame is more than the sockets between the two ends buffer
        var spec = NetworkSpec.FromSizes([4, 2000, 1500, 2], Activation.Tanh, Activation.Softmax, LossKind.CrossEntropy);
        var settings = new TrainingSettings(Epochs: 1, BatchSize: 32, Shards: 4, Seed: 3, Shuffle: true, new OptimizerSettings(OptimizerKind.Sgd, 0.05f));
        var completion = new TaskCompletionSource<TrainingOutcome>(TaskCreationOptions.RunContinuationsAsynchronously);
        var job = new TrainingJob(Guid.NewGuid(), new TrainingState(spec, Initial(spec), settings, data.Train.Count), TestData.Request, data.Fingerprint,
            data.Data.Test.Count);
        var policy = ClusterPolicy.Default with { MinWorkers = 2, StepTimeout = StepTimeout, StartTimeout = TimeSpan.FromMinutes(2) };
        var coordinator = Sys.ActorOf(CoordinatorActor.Props(new CoordinatorSettings(job, policy, new WireSettings(TransportKind.Tcp), new JobHooks(completion))));
        Sys.ActorOf(WorkerActor.Props(new WorkerActor.Settings("127.0.0.1", 0, 1, TestData.Csv, coordinator)), "honest");

        // the other worker: registers and says it is ready, but its data plane never reads a byte after the hello
        using var stalled = new StalledDataPlane();
        var probe = CreateTestProbe();
        Stopwatch sinceReady = new();
        await EventFilter.Warning(contains: "made no progress for 3 s (the peer stopped reading)").ExpectOneAsync(TimeSpan.FromSeconds(90), () =>
        {
            coordinator.Tell(new RegisterWorker(probe.Ref, "127.0.0.1", stalled.Port, 1, stalled.Token), probe.Ref);
            var start = probe.ExpectMsg<StartJob>(TimeSpan.FromSeconds(30));
            probe.Reply(new WorkerReady(start.Job, probe.Ref, data.Fingerprint, data.Train.Count, data.Data.Test.Count));
            sinceReady.Start();
            return Task.CompletedTask;
        });
        // its first weights frame stalled at the first step, which began after it was ready
        Assert.InRange(sinceReady.Elapsed, StepTimeout, 3 * StepTimeout);
        Assert.True(stalled.Accepted.IsCompletedSuccessfully);

        var outcome = await completion.Task.WaitAsync(TimeSpan.FromMinutes(3));
        var local = Initial(spec);
        new LocalTrainer(spec, local, settings).Train(data.Train, data.Data.Test);
        Assert.Equal(TrainingState.HashWeights(local), outcome.WeightsSha256);
        Assert.Single(outcome.Epochs);
    }

    [Fact]
    public async Task A_connection_to_a_workers_data_plane_with_a_wrong_token_is_refused_and_logged_and_the_right_one_still_gets_in()
    {
        var coordinator = CreateTestProbe();
        Sys.ActorOf(WorkerActor.Props(new WorkerActor.Settings("127.0.0.1", 0, 1, TestData.Csv, coordinator.Ref)));
        var register = coordinator.ExpectMsg<RegisterWorker>(TimeSpan.FromSeconds(30));
        var plane = new IPEndPoint(IPAddress.Loopback, register.DataPlanePort);
        Task<TensorChannel> Connect(byte[] token) =>
            TensorChannel.ConnectAsync(plane, TensorChannelOptions.Default with { AccessToken = token }, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));

        await EventFilter.Warning(contains: "wrong credentials").ExpectOneAsync(TimeSpan.FromSeconds(30), async () =>
        {
            var e = await Assert.ThrowsAsync<TensorAuthenticationException>(() => Connect(TensorHandshake.NewToken()));
            Assert.Contains("refused this connection: wrong credentials", e.Message);
        });
        await using var coordinators = await Connect(register.AccessToken!);
        Assert.False(coordinators.IsClosed);
    }

    private static float[] Initial(NetworkSpec spec)
    {
        var p = new float[spec.ParameterCount];
        Initializer.Initialize(spec, p, InitScheme.Xavier, 1);
        return p;
    }
}
