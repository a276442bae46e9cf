using Akka.Actor;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using DistributedNN.Coordinator;
using DistributedNN.Model;
using DistributedNN.Protocol;
using DistributedNN.Training;
using DistributedNN.Transport;

namespace DistributedNN.Tests.Distributed;

/// <summary>The coordinator actor with TestProbes as workers (and the test's own data-plane endpoints).</summary>
[Trait(TestTiers.Category, TestTiers.Integration)]
public sealed class CoordinatorActorSpecs : TestKit, IAsyncLifetime
{
    private const int Batch = 20, Shards = 4;
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);
    private readonly List<FrameCollector> _collectors = new();
    private readonly TaskCompletionSource<TrainingOutcome> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TrainingState _state = null!;
    private IActorRef _coordinator = null!;
    private Guid _job;

    public CoordinatorActorSpecs() : base(TestKitSetup.RealNode()) { }

    public Task InitializeAsync()
    {
        var data = TestData.Load();
        var spec = NetworkSpec.FromSizes([4, 6, 2], Activation.Tanh, Activation.Softmax, LossKind.CrossEntropy);
        var p = new float[spec.ParameterCount];
        Initializer.Initialize(spec, p, InitScheme.Xavier, 3);
        _state = new TrainingState(spec, p, new TrainingSettings(1, Batch, Shards, 5, true, new OptimizerSettings(OptimizerKind.Sgd, 0.5f)), data.Train.Count);
        _job = Guid.NewGuid();
        var settings = new CoordinatorActor.Settings(_job, _state, TestData.Request, data.Fingerprint, data.Data.Test.Count, MinWorkers: 1,
            StepTimeout: TimeSpan.FromMinutes(5), StartTimeout: TimeSpan.FromMinutes(5), OnEpoch: null, Completion: _completion);
        _coordinator = Sys.ActorOf(CoordinatorActor.Props(settings), "coordinator");
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        foreach (var c in _collectors) await c.DisposeAsync();
    }

    /// <summary>Registers a probe as a worker, answers its StartJob, and returns its data-plane collector.</summary>
    private async Task<(TestProbe Probe, FrameCollector Plane, TensorChannel Channel)> JoinWorker(string? fingerprint = null)
    {
        var probe = CreateTestProbe();
        var plane = FrameCollector.Listen();
        _collectors.Add(plane);
        _coordinator.Tell(new RegisterWorker(probe.Ref, "127.0.0.1", plane.Port, 1), probe.Ref);
        var start = probe.ExpectMsg<StartJob>(Wait);
        Assert.Equal(_job, start.Job);
        Assert.Equal(Shards, start.Shards);
        var data = TestData.Load();
        probe.Reply(new WorkerReady(_job, probe.Ref, fingerprint ?? data.Fingerprint, data.Train.Count, data.Data.Test.Count));
        return (probe, plane, await plane.Channel);
    }

    private async Task SendGradient(TensorChannel channel, ComputeShards order, int shard, float[] gradient)
    {
        await channel.SendAsync(new TensorHeader(_job, order.Step, order.Version, TensorKind.ShardGradient, shard, gradient.Length), gradient);
    }

    private static BatchStats ShardStats(DataPlan plan, ComputeShards order, int shard)
    {
        var bounds = new int[plan.ShardCount + 1];
        plan.ShardBounds(plan.Batch(order.Epoch, order.StepInEpoch).Length, bounds);
        return new BatchStats(0.5, 0, bounds[shard + 1] - bounds[shard]);
    }

    private ShardResult Result(ComputeShards order, int shard, IActorRef worker, int? count = null, int? length = null, long? version = null, long? step = null,
        double computeMs = 1.0) =>
        new(_job, step ?? order.Step, version ?? order.Version, shard, worker, 0.5, 0, count ?? ShardStats(_state.Plan, order, shard).Count, computeMs, length ?? _state.Spec.ParameterCount);

    private float[] Gradient(float value) => Enumerable.Repeat(value, _state.Spec.ParameterCount).ToArray();

    [Fact]
    public async Task Every_sample_of_a_global_batch_is_in_exactly_one_shard()
    {
        var (a, _, _) = await JoinWorker();
        var (b, _, _) = await JoinWorker();
        var orders = new List<ComputeShards> { a.ExpectMsg<ComputeShards>(Wait) };
        // the first worker may already have taken every shard before the second was ready
        int given = orders.Sum(o => o.Shards.Length);
        if (given < Shards) orders.Add(b.ExpectMsg<ComputeShards>(Wait));
        var shards = orders.SelectMany(o => o.Shards).Order().ToArray();
        Assert.Equal(Enumerable.Range(0, Shards).Take(shards.Length), shards); // no shard twice
        Assert.All(orders, o => Assert.True(o.Shards.Length <= CoordinatorActor.InFlightPerWorker));

        // the shards' sample ranges tile the global batch exactly once
        var batch = _state.Plan.Batch(orders[0].Epoch, orders[0].StepInEpoch).ToArray();
        var bounds = new int[Shards + 1];
        _state.Plan.ShardBounds(batch.Length, bounds);
        var covered = Enumerable.Range(0, Shards).SelectMany(s => batch[bounds[s]..bounds[s + 1]]).Order().ToArray();
        Assert.Equal(batch.Order().ToArray(), covered);
        Assert.Equal(Batch, covered.Distinct().Count());
    }

    [Fact]
    public async Task Bad_results_are_rejected_and_the_step_completes_only_when_every_shard_is_in()
    {
        var (worker, plane, channel) = await JoinWorker();
        var weights0 = plane.Next(TensorKind.Weights);
        Assert.Equal(0, weights0.Header.Version);
        Assert.Equal(_state.Spec.ParameterCount, weights0.Header.Count);
        var first = worker.ExpectMsg<ComputeShards>(Wait);
        Assert.Equal(new[] { 0, 1 }, first.Shards);

        var good = new[] { Gradient(0.25f), Gradient(-0.5f), Gradient(1f), Gradient(2f) };
        var stranger = CreateTestProbe();

        // shard 0: a poisoned gradient (handed back for a redo: this is the only worker), results for another
        // step and version (late), a wrong gradient length (bad), and a result from an unknown sender
        var poisoned = Gradient(0.1f);
        poisoned[7] = float.NaN;
        await SendGradient(channel, first, 0, poisoned);
        Assert.Equal(new[] { 0 }, worker.ExpectMsg<ComputeShards>(Wait).Shards);
        _coordinator.Tell(Result(first, 0, worker.Ref, step: first.Step + 1), worker.Ref);
        _coordinator.Tell(Result(first, 0, worker.Ref, version: first.Version + 7), worker.Ref);
        _coordinator.Tell(Result(first, 0, worker.Ref, length: 3), worker.Ref);
        _coordinator.Tell(Result(first, 1, stranger.Ref), stranger.Ref);
        await SendGradient(channel, first, 0, good[0]);
        _coordinator.Tell(Result(first, 0, worker.Ref), worker.Ref);

        // shard 0 done: the worker gets the next shard, and nothing else happens while shards are missing
        var second = worker.ExpectMsg<ComputeShards>(Wait);
        Assert.Equal(new[] { 2 }, second.Shards);
        await SendGradient(channel, first, 1, good[1]);
        _coordinator.Tell(Result(first, 1, worker.Ref), worker.Ref);
        var third = worker.ExpectMsg<ComputeShards>(Wait);
        Assert.Equal(new[] { 3 }, third.Shards);
        await SendGradient(channel, first, 2, good[2]);
        _coordinator.Tell(Result(first, 2, worker.Ref), worker.Ref);
        worker.ExpectNoMsg(TimeSpan.FromMilliseconds(300)); // 3 of 4 shards: no new step
        await SendGradient(channel, first, 3, good[3]);
        _coordinator.Tell(Result(first, 3, worker.Ref), worker.Ref);

        // the step is applied with exactly the accepted gradients, added in shard order, and the next one starts
        var next = worker.ExpectMsg<ComputeShards>(Wait);
        Assert.Equal(first.Step + 1, next.Step);
        Assert.Equal(first.Version + 1, next.Version);
        var weights1 = plane.Next(TensorKind.Weights);
        Assert.Equal(1, weights1.Header.Version);
        var expected = weights0.Payload.ToArray();
        var sum = new float[expected.Length];
        for (int i = 0; i < sum.Length; i++) sum[i] = ((good[0][i] + good[1][i]) + good[2][i]) + good[3][i];
        new Optimizer(new OptimizerSettings(OptimizerKind.Sgd, 0.5f), expected.Length).Step(expected, sum, 1f / Batch);
        Assert.Equal(expected, weights1.Payload);
        stranger.ExpectNoMsg(TimeSpan.Zero);
    }

    [Fact]
    public async Task A_worker_with_other_data_is_refused()
    {
        var probe = CreateTestProbe();
        var plane = FrameCollector.Listen();
        _collectors.Add(plane);
        _coordinator.Tell(new RegisterWorker(probe.Ref, "127.0.0.1", plane.Port, 1), probe.Ref);
        probe.ExpectMsg<StartJob>(Wait);
        probe.Reply(new WorkerReady(_job, probe.Ref, new string('0', 64), 480, 120));
        var rejected = probe.ExpectMsg<RegistrationRejected>(Wait);
        Assert.Contains("data set differs", rejected.Reason);
        probe.ExpectNoMsg(TimeSpan.FromMilliseconds(300)); // and it gets no work
    }

    [Fact]
    public async Task A_leaving_worker_hands_its_shards_to_the_others_at_once()
    {
        // the step deadline is 5 minutes: the leaver's shards can only reach the other worker within Wait through its notice
        var (leaver, _, _) = await JoinWorker();
        var taken = leaver.ExpectMsg<ComputeShards>(Wait);
        var (stayer, _, channel) = await JoinWorker();
        var own = stayer.ExpectMsg<ComputeShards>(Wait);
        Assert.Empty(taken.Shards.Intersect(own.Shards));
        _coordinator.Tell(new WorkerLeaving(_job, leaver.Ref), leaver.Ref);
        foreach (int shard in own.Shards)
        {
            await SendGradient(channel, own, shard, Gradient(0.5f));
            _coordinator.Tell(Result(own, shard, stayer.Ref), stayer.Ref);
        }
        var handed = new List<int>();
        while (handed.Count < taken.Shards.Length)
        {
            var order = stayer.ExpectMsg<ComputeShards>(Wait);
            Assert.Equal(own.Step, order.Step);
            handed.AddRange(order.Shards);
        }
        Assert.Equal(taken.Shards.Order(), handed.Order());
        leaver.ExpectNoMsg(TimeSpan.FromMilliseconds(300)); // and no more work for the leaver
    }

    [Fact]
    public async Task A_silent_worker_loses_its_shards_to_another_after_the_deadline()
    {
        // a coordinator with a short step deadline
        var data = TestData.Load();
        var spec = _state.Spec;
        var state = new TrainingState(spec, (float[])_state.Parameters.Clone(), _state.Settings, data.Train.Count);
        var completion = new TaskCompletionSource<TrainingOutcome>();
        var job = Guid.NewGuid();
        var coordinator = Sys.ActorOf(CoordinatorActor.Props(new CoordinatorActor.Settings(job, state, TestData.Request, data.Fingerprint, data.Data.Test.Count,
            2, TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(5), null, completion)));
        var probes = new List<TestProbe>();
        foreach (var _ in new[] { 1, 2 })
        {
            var probe = CreateTestProbe();
            var plane = FrameCollector.Listen();
            _collectors.Add(plane);
            coordinator.Tell(new RegisterWorker(probe.Ref, "127.0.0.1", plane.Port, 1), probe.Ref);
            probe.ExpectMsg<StartJob>(Wait);
            probe.Reply(new WorkerReady(job, probe.Ref, data.Fingerprint, data.Train.Count, data.Data.Test.Count));
            probes.Add(probe);
        }
        var silent = probes[0].ExpectMsg<ComputeShards>(Wait);
        var busy = probes[1].ExpectMsg<ComputeShards>(Wait);
        // nobody answers: after the deadline the shards are handed out again (to whoever has room)
        var again = new List<int>();
        foreach (var p in probes) again.AddRange(p.ExpectMsg<ComputeShards>(TimeSpan.FromSeconds(10)).Shards);
        Assert.Equal(silent.Shards.Concat(busy.Shards).Order(), again.Order());
    }

    [Fact]
    public async Task A_worker_sending_bad_results_is_quarantined_and_the_others_carry_on()
    {
        var (bad, _, badChannel) = await JoinWorker();
        var first = bad.ExpectMsg<ComputeShards>(Wait);
        Assert.Equal(new[] { 0, 1 }, first.Shards);
        var (good, _, goodChannel) = await JoinWorker();
        var second = good.ExpectMsg<ComputeShards>(Wait);
        Assert.Equal(new[] { 2, 3 }, second.Shards);

        _coordinator.Tell(Result(first, 0, bad.Ref, count: 999), bad.Ref);      // bad 1
        _coordinator.Tell(Result(first, 0, bad.Ref, length: 3), bad.Ref);       // bad 2
        var poisoned = Gradient(0.5f);
        poisoned[11] = float.NaN;
        await SendGradient(badChannel, first, 1, poisoned);                       // bad 3: shard 1 goes to the good worker
        var redo = good.ExpectMsg<ComputeShards>(Wait);
        Assert.Equal(new[] { 1 }, redo.Shards);

        // the good worker finishes everything, including the quarantined worker's shard 0
        var done = new HashSet<int>();
        var pending = new Queue<int>(second.Shards.Concat(redo.Shards));
        while (done.Count < Shards)
        {
            if (pending.Count == 0)
                foreach (int s in good.ExpectMsg<ComputeShards>(Wait).Shards) pending.Enqueue(s);
            int shard = pending.Dequeue();
            await SendGradient(goodChannel, first, shard, Gradient(0.1f * (shard + 1)));
            _coordinator.Tell(Result(first, shard, good.Ref), good.Ref);
            done.Add(shard);
        }
        var next = good.ExpectMsg<ComputeShards>(Wait);
        Assert.Equal(first.Step + 1, next.Step);
        bad.ExpectNoMsg(TimeSpan.FromMilliseconds(500)); // no more work for it
    }

    [Fact]
    public async Task A_loss_that_turns_NaN_on_two_workers_stops_training_with_a_clear_message()
    {
        var (a, _, aChannel) = await JoinWorker();
        var first = a.ExpectMsg<ComputeShards>(Wait);
        var (b, _, bChannel) = await JoinWorker();
        b.ExpectMsg<ComputeShards>(Wait);
        var nan = Gradient(float.NaN);
        await SendGradient(aChannel, first, 0, nan);
        var redo = b.ExpectMsg<ComputeShards>(Wait);
        Assert.Equal(new[] { 0 }, redo.Shards);
        await SendGradient(bChannel, redo, 0, nan);
        var failure = await Assert.ThrowsAsync<TrainingDivergedException>(() => _completion.Task.WaitAsync(Wait));
        Assert.Contains("training diverged", failure.Message);
        Assert.Contains("learning rate too high?", failure.Message);
    }

    [Fact]
    public async Task A_worker_whose_shards_take_longer_is_named_slow_in_the_log_and_the_outcome()
    {
        // two workers that answer every order at once; one reports 25 ms per shard, the other 2 ms
        // (a coordinator that waits for both, so that neither trains the whole epoch alone)
        var data = TestData.Load();
        var state = new TrainingState(_state.Spec, (float[])_state.Parameters.Clone(), _state.Settings, data.Train.Count);
        var completion = new TaskCompletionSource<TrainingOutcome>(TaskCreationOptions.RunContinuationsAsynchronously);
        var coordinator = Sys.ActorOf(CoordinatorActor.Props(new CoordinatorActor.Settings(_job, state, TestData.Request, data.Fingerprint, data.Data.Test.Count,
            MinWorkers: 2, StepTimeout: TimeSpan.FromMinutes(5), StartTimeout: TimeSpan.FromMinutes(5), OnEpoch: null, Completion: completion)));
        var names = new List<string>();
        async Task<TestProbe> Join(double computeMs)
        {
            var probe = CreateTestProbe();
            var plane = FrameCollector.Listen();
            _collectors.Add(plane);
            coordinator.Tell(new RegisterWorker(probe.Ref, "127.0.0.1", plane.Port, 1), probe.Ref);
            probe.ExpectMsg<StartJob>(Wait);
            var channelTask = plane.Channel;
            probe.SetAutoPilot(new DelegateAutoPilot((sender, message) =>
            {
                switch (message)
                {
                    case ComputeShards order:
                        foreach (int shard in order.Shards)
                        {
                            SendGradient(channelTask.Result, order, shard, Gradient(0.01f)).GetAwaiter().GetResult();
                            sender.Tell(Result(order, shard, probe.Ref, computeMs: computeMs), probe.Ref);
                        }
                        break;
                    case EvaluateChunks evaluate:
                        foreach (int chunk in evaluate.Chunks)
                        {
                            int rows = System.Math.Min(LocalTrainer.EvaluationChunk, data.Data.Test.Count - chunk * LocalTrainer.EvaluationChunk);
                            sender.Tell(new EvaluationResult(_job, evaluate.Version, chunk, probe.Ref, 0.5 * rows, 0, rows), probe.Ref);
                        }
                        break;
                }
                return AutoPilot.KeepRunning;
            }));
            names.Add(probe.Ref.Path.Name);
            probe.Reply(new WorkerReady(_job, probe.Ref, data.Fingerprint, data.Train.Count, data.Data.Test.Count));
            await channelTask;
            return probe;
        }

        TrainingOutcome outcome = null!;
        await EventFilter.Warning(contains: "is slow").ExpectOneAsync(TimeSpan.FromSeconds(60), async () =>
        {
            await Join(2.0);
            await Join(25.0);
            outcome = await completion.Task.WaitAsync(Wait);
        });

        // one epoch: every shard of every step counted once, the slow worker named
        var stats = outcome.WorkerStats!;
        Assert.All(stats, s => Assert.Equal(1, s.Epoch));
        Assert.Equal(_state.Plan.StepsPerEpoch * Shards, stats.Sum(s => s.Shards));
        var slow = Assert.Single(stats, s => s.Slow);
        Assert.Equal(names[1], slow.Worker);
        Assert.Equal(25.0, slow.MeanMs, 9);
        Assert.Equal(names[0], Assert.Single(stats, s => !s.Slow).Worker);
    }
}
