using Akka.Actor;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using DistributedNN.Coordinator;
using DistributedNN.Model;
using DistributedNN.Protocol;
using DistributedNN.Training;
using DistributedNN.Transport;

namespace DistributedNN.Tests.Distributed;

/// <summary>
/// The coordinator actor with TestProbes as workers on the akka transport (<see cref="ProbeWorker"/>: the real codec and
/// chunks), and once over tcp with the test as the worker's data plane.
/// </summary>
[Trait(TestTiers.Category, TestTiers.Integration)]
public sealed class CoordinatorActorSpecs : TestKit, IAsyncLifetime
{
    private const int Batch = 20, Shards = 4;
    private static readonly TimeSpan Wait = ProbeWorker.Wait;
    private readonly List<FrameCollector> _collectors = new();
    private TaskCompletionSource<TrainingOutcome> _completion = null!;
    private TrainingState _state = null!;
    private IActorRef _coordinator = null!;

    public CoordinatorActorSpecs() : base(TestKitSetup.RealNode()) { }

    public Task InitializeAsync()
    {
        (_coordinator, _state, _completion) = StartCoordinator(minWorkers: 1, TimeSpan.FromMinutes(5));
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        foreach (var c in _collectors) await c.DisposeAsync();
    }

    private (IActorRef, TrainingState, TaskCompletionSource<TrainingOutcome>) StartCoordinator(int minWorkers, TimeSpan stepTimeout,
        TransportKind transport = TransportKind.Akka)
    {
        var data = TestData.Load();
        var spec = NetworkSpec.FromSizes([4, 6, 2], Activation.Tanh, Activation.Softmax, LossKind.CrossEntropy);
        var p = new float[spec.ParameterCount];
        Initializer.Initialize(spec, p, InitScheme.Xavier, 3);
        var state = new TrainingState(spec, p, new TrainingSettings(1, Batch, Shards, 5, true, new OptimizerSettings(OptimizerKind.Sgd, 0.5f)), data.Train.Count);
        var completion = new TaskCompletionSource<TrainingOutcome>(TaskCreationOptions.RunContinuationsAsynchronously);
        var job = new TrainingJob(Guid.NewGuid(), state, TestData.Request, data.Fingerprint, data.Data.Test.Count);
        var policy = ClusterPolicy.Default with { MinWorkers = minWorkers, StepTimeout = stepTimeout, StartTimeout = TimeSpan.FromMinutes(5) };
        var coordinator = Sys.ActorOf(CoordinatorActor.Props(new CoordinatorSettings(job, policy, new WireSettings(transport), new JobHooks(completion))));
        return (coordinator, state, completion);
    }

    private ProbeWorker Join(IActorRef? coordinator = null, int cores = 1, Action<ProbeWorker>? beforeReady = null) =>
        ProbeWorker.Join(CreateTestProbe(), coordinator ?? _coordinator, cores: cores, beforeReady: beforeReady);

    private int Count(WorkOrder order, int shard) => ProbeWorker.ShardCount(_state.Plan, order, shard);

    private float[] Gradient(float value) => Enumerable.Repeat(value, _state.Spec.ParameterCount).ToArray();

    [Fact]
    public void Every_sample_of_a_global_batch_is_in_exactly_one_shard()
    {
        var a = Join();
        var orders = new List<WorkOrder> { a.NextOrder() };
        var b = Join();
        // the first worker may already have taken every shard before the second was ready
        if (orders.Sum(o => o.Items.Length) < Shards) orders.Add(b.NextOrder());
        var shards = orders.SelectMany(o => o.Items).Order().ToArray();
        Assert.Equal(Enumerable.Range(0, Shards).Take(shards.Length), shards); // no shard twice
        Assert.All(orders, o => Assert.True(o.Items.Length <= RegisteredWorker.InFlightPerCore));

        // the shards' sample ranges tile the global batch exactly once
        var batch = _state.Plan.Batch(orders[0].Epoch, orders[0].StepInEpoch).ToArray();
        var bounds = new int[Shards + 1];
        _state.Plan.ShardBounds(batch.Length, bounds);
        var covered = Enumerable.Range(0, Shards).SelectMany(s => batch[bounds[s]..bounds[s + 1]]).Order().ToArray();
        Assert.Equal(batch.Order().ToArray(), covered);
        Assert.Equal(Batch, covered.Distinct().Count());
    }

    [Fact]
    public void Bad_results_are_rejected_and_the_step_is_applied_with_exactly_the_accepted_gradients()
    {
        var worker = Join();
        var first = worker.NextOrder();
        Assert.Equal(new[] { 0, 1 }, first.Items);
        var weights0 = worker.Weights(first.Version);
        Assert.Equal(_state.Spec.ParameterCount, weights0.Length);
        var good = new[] { Gradient(0.25f), Gradient(-0.5f), Gradient(1f), Gradient(2f) };
        var stranger = ProbeWorker.RegisterOnly(CreateTestProbe(), _coordinator); // known, but never given a shard

        // shard 0: a poisoned gradient (handed back for a redo: this is the only worker), then results with gradients of
        // 1000 for another step and another version (late), with a wrong activity length (bad), and from a worker it is not
        // assigned to: had any of them been applied, the weights below would show it
        var poisoned = Gradient(0.1f);
        poisoned[7] = float.NaN;
        worker.SendShard(first, 0, poisoned, Count(first, 0));
        Assert.Equal(new[] { 0 }, worker.NextOrder().Items);
        worker.SendShard(first, 0, Gradient(1000f), Count(first, 0), step: first.Step + 1);
        worker.SendShard(first, 0, Gradient(1000f), Count(first, 0), version: first.Version + 7);
        worker.SendShard(first, 0, Gradient(1000f), Count(first, 0), layers: 1);
        stranger.SendShard(first, 0, Gradient(1000f), Count(first, 0));
        worker.SendShard(first, 0, good[0], Count(first, 0));

        // shard 0 done: the worker gets the next shard, and nothing else happens while shards are missing
        Assert.Equal(new[] { 2 }, worker.NextOrder().Items);
        worker.SendShard(first, 1, good[1], Count(first, 1));
        Assert.Equal(new[] { 3 }, worker.NextOrder().Items);
        worker.SendShard(first, 2, good[2], Count(first, 2));
        worker.Probe.ExpectNoMsg(TimeSpan.FromMilliseconds(300)); // 3 of 4 shards: no new step
        worker.SendShard(first, 3, good[3], Count(first, 3));

        // the step is applied with exactly the accepted gradients, added in shard order, and the next one starts
        var next = worker.NextOrder();
        Assert.Equal((first.Step + 1, first.Version + 1), (next.Step, next.Version));
        var expected = (float[])weights0.Clone();
        var sum = new float[expected.Length];
        for (int i = 0; i < sum.Length; i++) sum[i] = ((good[0][i] + good[1][i]) + good[2][i]) + good[3][i];
        new Optimizer(new OptimizerSettings(OptimizerKind.Sgd, 0.5f), expected.Length).Step(expected, sum, 1f / Batch);
        Assert.Equal(expected, worker.Weights(next.Version));
    }

    [Fact]
    public void A_worker_with_other_data_is_refused_and_gets_no_work()
    {
        var probe = CreateTestProbe();
        _coordinator.Tell(new RegisterWorker(probe.Ref, "127.0.0.1", 1, 1), probe.Ref);
        var start = probe.ExpectMsg<StartJob>(Wait);
        probe.Reply(new WorkerReady(start.Job, probe.Ref, new string('0', 64), 480, 120));
        Assert.Contains("data set differs", probe.ExpectMsg<RegistrationRejected>(Wait).Reason);
        probe.ExpectNoMsg(TimeSpan.FromMilliseconds(300));
    }

    [Fact]
    public void A_registration_naming_another_actor_than_its_sender_is_ignored()
    {
        var victim = CreateTestProbe();
        var forger = CreateTestProbe();
        _coordinator.Tell(new RegisterWorker(victim.Ref, "127.0.0.1", 1, 64), forger.Ref);
        victim.ExpectNoMsg(TimeSpan.FromMilliseconds(300));
        forger.ExpectNoMsg(TimeSpan.Zero);
        Join().NextOrder(); // the coordinator goes on as before
    }

    [Fact]
    public void A_leaving_worker_hands_its_shards_to_the_others_at_once()
    {
        // the step deadline is 5 minutes: the leaver's shards can only reach the other worker within Wait through its notice
        var leaver = Join();
        var taken = leaver.NextOrder();
        var stayer = Join();
        var own = stayer.NextOrder();
        Assert.Empty(taken.Items.Intersect(own.Items));
        _coordinator.Tell(new WorkerLeaving(taken.Job, leaver.Ref), leaver.Ref);
        foreach (int shard in own.Items) stayer.SendShard(own, shard, Gradient(0.5f), Count(own, shard));
        var handed = new List<int>();
        while (handed.Count < taken.Items.Length)
        {
            var order = stayer.NextOrder();
            Assert.Equal(own.Step, order.Step);
            handed.AddRange(order.Items);
        }
        Assert.Equal(taken.Items.Order(), handed.Order());
        leaver.Probe.ExpectNoMsg(TimeSpan.FromMilliseconds(300)); // and no more work for the leaver
    }

    [Fact]
    public void A_silent_worker_loses_its_shards_to_another_after_the_deadline()
    {
        var (coordinator, _, _) = StartCoordinator(minWorkers: 2, TimeSpan.FromSeconds(1));
        var workers = new[] { Join(coordinator), Join(coordinator) };
        var first = workers.SelectMany(w => w.NextOrder().Items).Order().ToArray();
        Assert.Equal(Enumerable.Range(0, Shards), first);
        // nobody answers: after the deadline the shards are handed out again (to whoever has room)
        var again = workers.SelectMany(w => w.NextOrder(TimeSpan.FromSeconds(10)).Items).Order().ToArray();
        Assert.Equal(first, again);
    }

    [Fact]
    public void A_worker_sending_bad_results_is_quarantined_and_the_others_carry_on()
    {
        var bad = Join();
        var first = bad.NextOrder();
        Assert.Equal(new[] { 0, 1 }, first.Items);
        var good = Join();
        var second = good.NextOrder();
        Assert.Equal(new[] { 2, 3 }, second.Items);

        bad.SendShard(first, 0, Gradient(0.5f), count: 999);                              // bad 1: the wrong sample count
        bad.SendShard(first, 0, new float[3], Count(first, 0), withGradient: false);      // bad 2: a gradient of 3 values announced
        var poisoned = Gradient(0.5f);
        poisoned[11] = float.NaN;
        bad.SendShard(first, 1, poisoned, Count(first, 1));                   // bad 3: shard 1 goes to the good worker
        var redo = good.NextOrder();
        Assert.Equal(new[] { 1 }, redo.Items);

        // the good worker finishes everything, including the quarantined worker's shard 0
        var done = new HashSet<int>();
        var pending = new Queue<int>(second.Items.Concat(redo.Items));
        while (done.Count < Shards)
        {
            if (pending.Count == 0)
                foreach (int s in good.NextOrder().Items) pending.Enqueue(s);
            int shard = pending.Dequeue();
            good.SendShard(first, shard, Gradient(0.1f * (shard + 1)), Count(first, shard));
            done.Add(shard);
        }
        Assert.Equal(first.Step + 1, good.NextOrder().Step);
        bad.Probe.ExpectNoMsg(TimeSpan.FromMilliseconds(500)); // no more work for it
    }

    [Fact]
    public async Task A_loss_that_turns_NaN_on_two_workers_stops_training_with_a_clear_message()
    {
        var a = Join();
        var first = a.NextOrder();
        var b = Join();
        b.NextOrder();
        a.SendShard(first, 0, Gradient(float.NaN), Count(first, 0));
        var redo = b.NextOrder();
        Assert.Equal(new[] { 0 }, redo.Items);
        b.SendShard(redo, 0, Gradient(float.NaN), Count(redo, 0));
        var failure = await Assert.ThrowsAsync<TrainingDivergedException>(() => _completion.Task.WaitAsync(Wait));
        Assert.Contains("training diverged", failure.Message);
        Assert.Contains("learning rate too high?", failure.Message);
    }

    [Fact]
    public async Task A_gradient_without_its_result_breaks_the_protocol_and_counts_against_the_worker()
    {
        var rogue = Join();
        var first = rogue.NextOrder();
        var honest = Join(cores: 4); // room for the rogue's shards as soon as they are taken from it
        honest.NextOrder();
        await EventFilter.Warning(contains: "broke the protocol").ExpectAsync(3, TimeSpan.FromSeconds(30), () =>
        {
            for (int i = 0; i < 3; i++) rogue.SendShard(first, 0, Gradient(1f), Count(first, 0), withGradient: false);
            rogue.SendShard(first, 0, Gradient(1f), Count(first, 0)); // the 3rd result's gradient makes the 3rd violation
            return Task.CompletedTask;
        });
        // quarantined: its shards went to the honest worker
        var handed = honest.NextOrder();
        Assert.Equal(first.Step, handed.Step);
        Assert.Contains(0, handed.Items);
    }

    [Fact]
    public async Task Over_tcp_the_weights_and_orders_come_as_frames_and_a_result_with_its_gradient_completes_a_shard()
    {
        var (coordinator, state, _) = StartCoordinator(minWorkers: 1, TimeSpan.FromMinutes(5), TransportKind.Tcp);
        var probe = CreateTestProbe();
        var plane = FrameCollector.Listen();
        _collectors.Add(plane);
        coordinator.Tell(new RegisterWorker(probe.Ref, "127.0.0.1", plane.Port, 1), probe.Ref);
        var start = probe.ExpectMsg<StartJob>(Wait);
        Assert.Equal(TransportKind.Tcp, start.Transport);
        var data = TestData.Load();
        probe.Reply(new WorkerReady(start.Job, probe.Ref, data.Fingerprint, data.Train.Count, data.Data.Test.Count));
        var channel = await plane.Channel;
        var weights = plane.Next(TensorKind.Weights);
        Assert.Equal(state.Parameters, weights.Payload);
        var (orderHeader, orderPayload) = plane.Next(TensorKind.Order);
        var order = WorkFrames.ReadOrder(orderHeader, orderPayload, WorkCodec.MaxItems)!;
        Assert.Equal(new[] { 0, 1 }, order.Items);
        foreach (int shard in order.Items)
        {
            var result = new WorkResult(WorkKind.Shards, order.Job, order.Step, order.Version, shard,
                new BatchStats(0.5, 0, ProbeWorker.ShardCount(state.Plan, order, shard)), 1.0, state.Spec.ParameterCount, new int[2]);
            var (rh, rp) = WorkFrames.Result(result);
            await channel.SendAsync(rh, rp);
            await channel.SendAsync(new TensorHeader(order.Job, order.Step, order.Version, TensorKind.ShardGradient, shard, state.Spec.ParameterCount),
                Gradient(0.5f));
        }
        // each shard in makes room for the next one
        foreach (int expected in new[] { 2, 3 })
        {
            var (nextHeader, nextPayload) = plane.Next(TensorKind.Order);
            Assert.Equal(new[] { expected }, WorkFrames.ReadOrder(nextHeader, nextPayload, WorkCodec.MaxItems)!.Items);
        }
    }

    [Fact]
    public async Task A_worker_whose_shards_take_longer_is_named_slow_in_the_log_and_the_outcome()
    {
        // two workers that answer every order at once; one reports 25 ms per shard, the other 2 ms
        // (a coordinator that waits for both, so that neither trains the whole epoch alone)
        var (coordinator, state, completion) = StartCoordinator(minWorkers: 2, TimeSpan.FromMinutes(5));
        var data = TestData.Load();
        var names = new List<string>();
        void Answering(double computeMs) => names.Add(Join(coordinator, beforeReady: worker => worker.Probe.SetAutoPilot(new DelegateAutoPilot((_, message) =>
        {
            if (message is not TensorChunk { Header.Kind: TensorKind.Order } chunk) return AutoPilot.KeepRunning;
            var order = WorkFrames.ReadOrder(chunk.Header, chunk.Values, WorkCodec.MaxItems)!;
            foreach (int item in order.Items)
                if (order.Kind == WorkKind.Shards) worker.SendShard(order, item, Gradient(0.01f), ProbeWorker.ShardCount(state.Plan, order, item), computeMs: computeMs);
                else worker.SendEvaluation(order, item, Math.Min(LocalTrainer.EvaluationChunk, data.Data.Test.Count - item * LocalTrainer.EvaluationChunk));
            return AutoPilot.KeepRunning;
        }))).Ref.Path.Name);

        TrainingOutcome outcome = null!;
        await EventFilter.Warning(contains: "is slow").ExpectOneAsync(TimeSpan.FromSeconds(60), async () =>
        {
            Answering(2.0);
            Answering(25.0);
            outcome = await completion.Task.WaitAsync(Wait);
        });

        // one epoch: every shard of every step counted once, the slow worker named
        var stats = outcome.WorkerStats!;
        Assert.All(stats, s => Assert.Equal(1, s.Epoch));
        Assert.Equal(state.Plan.StepsPerEpoch * Shards, stats.Sum(s => s.Shards));
        var slow = Assert.Single(stats, s => s.Slow);
        Assert.Equal(names[1], slow.Worker);
        Assert.Equal(25.0, slow.MeanMs, 9);
        Assert.Equal(names[0], Assert.Single(stats, s => !s.Slow).Worker);
    }
}
