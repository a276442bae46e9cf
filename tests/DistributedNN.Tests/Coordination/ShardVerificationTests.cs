using DistributedNN.Coordinator;
using DistributedNN.Data;
using DistributedNN.Model;
using DistributedNN.Protocol;
using DistributedNN.Training;
using DistributedNN.Transport;

namespace DistributedNN.Tests.Coordination;

/// <summary>
/// --verify-fraction without actors: which shards are checked, who may compute a shard's second copy, and what happens
/// when opinions differ — real shard gradients from real <see cref="ShardComputer"/>s, one per worker, a liar among them
/// scaling its gradients by −100, and the coordinator's own computation deciding.
/// </summary>
public sealed class ShardVerificationTests
{
    private const int Shards = 4;
    private static readonly NetworkSpec Spec = NetworkSpec.FromSizes([4, 8, 2], Activation.Tanh, Activation.Softmax, LossKind.CrossEntropy);
    private static readonly TrainingSettings Settings = new(Epochs: 1, BatchSize: 32, Shards, Seed: 5, Shuffle: true, new OptimizerSettings(OptimizerKind.Sgd, 0.1f));

    private static Dataset Data(int rows, int seed)
    {
        var rng = new Random(seed);
        var features = new float[rows * 4];
        var labels = new int[rows];
        for (int i = 0; i < rows; i++)
        {
            for (int f = 0; f < 4; f++) features[i * 4 + f] = (float)rng.NextDouble();
            labels[i] = features[i * 4] + features[i * 4 + 1] > 1 ? 1 : 0;
        }
        return new Dataset("sum", features, labels, 4, 2);
    }

    private static readonly Dataset Train = Data(96, 1), Test = Data(32, 2);

    /// <summary>
    /// The first step of a run whose <paramref name="verified"/> shards are computed twice, its scheduler with the given
    /// workers (2 items each at once), and each worker's own computer.
    /// </summary>
    private sealed class Run
    {
        public readonly float[] Parameters = new float[Spec.ParameterCount];
        public readonly WorkScheduler Scheduler = new();
        public readonly ShardVerification Verification;
        public readonly StepAggregator Step;
        private readonly Dictionary<int, ShardComputer> _workers = new();
        private readonly HashSet<int> _liars = [];

        public Run(int[] verified, params int[] workers)
        {
            Initializer.Initialize(Spec, Parameters, InitScheme.Xavier, 3);
            var state = new TrainingState(Spec, Parameters, Settings, Train.Count);
            Verification = ShardVerification.For(1, state, Train, Test, key: 42)!;
            var plan = NewComputer().Plan;
            var bounds = new int[Shards + 1];
            plan.ShardBounds(plan.Batch(0, 0).Length, bounds);
            Step = new StepAggregator(Guid.NewGuid(), 0, 0, 0, 0, bounds, new GradientBufferPool(Spec.ParameterCount, capacity: 64), Spec.Layers.Select(l => l.Outputs).ToArray(), verified);
            foreach (int w in workers)
            {
                Scheduler.Add(w, 2);
                _workers[w] = NewComputer();
            }
            Scheduler.Begin(Step.Items, Step.Verified);
        }

        private static ShardComputer NewComputer() => new(Spec, Train, Test, Settings.BatchSize, Shards, Settings.Seed, Settings.Shuffle);

        public void Lies(int worker) => _liars.Add(worker);

        /// <summary>The worker computes the shard (a liar: its gradient × −100) and the result goes the way the round driver takes it.</summary>
        public IReadOnlyList<Exposure> Deliver(int worker, int shard)
        {
            var computer = _workers[worker];
            var gradient = Step.RentGradient();
            var stats = computer.ComputeShard(Parameters, Step.Epoch, Step.StepInEpoch, shard, gradient, Step.Version);
            if (_liars.Contains(worker))
                for (int i = 0; i < gradient.Length; i++) gradient[i] *= -100f;
            var result = new WorkResult(WorkKind.Shards, Step.Job, Step.Step, Step.Version, shard, stats, 1.0, Spec.ParameterCount, computer.Activity.ToArray());
            Assert.True(Scheduler.IsAssigned(shard, worker), $"shard {shard} is not worker {worker}'s");
            Assert.Null(Step.Accept(result, gradient, worker, $"w{worker}"));
            Scheduler.Complete(shard, worker);
            return Step.Verified.Contains(shard) ? Verification.Judge(Step, shard, Scheduler, Parameters) : [];
        }

        /// <summary>
        /// Hands out what is queued and delivers it, round after round, until the step is complete (a result for an item
        /// taken back meanwhile is dropped, as the round driver rejects it); every exposure on the way.
        /// </summary>
        public List<Exposure> DeliverAll()
        {
            var exposed = new List<Exposure>();
            for (int round = 0; round < 20 && !Scheduler.AllComplete; round++)
            {
                foreach (var a in Scheduler.Dispatch())
                    foreach (int shard in a.Items.Where(shard => Scheduler.IsAssigned(shard, a.Worker)).ToList())
                        exposed.AddRange(Deliver(a.Worker, shard));
                exposed.AddRange(Verification.ComputeStranded(Step, Scheduler, Parameters));
            }
            Assert.True(Scheduler.AllComplete, "the step never completed");
            return exposed;
        }

        /// <summary>The step's gradient as honest workers give it: every shard computed once, summed in shard order.</summary>
        public (float[] Gradient, BatchStats Stats) Honest()
        {
            var computer = NewComputer();
            var parts = Enumerable.Range(0, Shards).Select(_ => new float[Spec.ParameterCount]).ToArray();
            var stats = Enumerable.Range(0, Shards).Select(s => computer.ComputeShard(Parameters, Step.Epoch, Step.StepInEpoch, s, parts[s], Step.Version)).ToArray();
            var total = new float[Spec.ParameterCount];
            return (total, ShardSum.AddInOrder(Shards, s => parts[s], s => stats[s], total));
        }

        public (float[] Gradient, BatchStats Stats) Sum()
        {
            var total = new float[Spec.ParameterCount];
            return (total, Step.Sum(total));
        }
    }

    private static readonly int[] All = [0, 1, 2, 3];

    private static void AssertSameBits((float[] Gradient, BatchStats Stats) expected, (float[] Gradient, BatchStats Stats) actual)
    {
        Assert.Equal(expected.Stats, actual.Stats);
        Assert.Equal(expected.Gradient.Select(BitConverter.SingleToInt32Bits), actual.Gradient.Select(BitConverter.SingleToInt32Bits));
    }

    [Fact]
    public void The_shards_checked_are_the_same_for_the_same_key_and_another_key_chooses_others()
    {
        var plan = new VerificationPlan(0.25, Seed: 7, Key: 99);
        var again = new VerificationPlan(0.25, Seed: 7, Key: 99);
        var choices = Enumerable.Range(0, 400).Select(step => plan.Select(step, 8)).ToList();
        Assert.All(Enumerable.Range(0, 400), step => Assert.Equal(choices[step], again.Select(step, 8)));
        Assert.All(choices, c => Assert.Equal(c.Order().Distinct(), c)); // ascending, each shard once
        // about a quarter of the shards, and not the same ones every step
        double fraction = choices.Sum(c => c.Length) / (400.0 * 8);
        Assert.InRange(fraction, 0.2, 0.3);
        Assert.True(choices.Select(c => string.Join(",", c)).Distinct().Count() > 50);
        // the seed is every worker's: the key makes the difference
        var otherKey = new VerificationPlan(0.25, Seed: 7, Key: 100);
        Assert.NotEqual(choices.SelectMany(c => c), Enumerable.Range(0, 400).SelectMany(step => otherKey.Select(step, 8)));
        Assert.Empty(new VerificationPlan(0, 7, 99).Select(3, 8));
        Assert.Equal([0, 1, 2, 3, 4, 5, 6, 7], new VerificationPlan(1, 7, 99).Select(3, 8));
        Assert.NotEqual(VerificationPlan.NewKey(), VerificationPlan.NewKey());
    }

    [Fact]
    public void An_item_verified_twice_never_goes_to_one_worker_twice_and_a_lone_worker_leaves_the_copy_to_the_coordinator()
    {
        var s = new WorkScheduler();
        s.Add(1, 4);
        s.Add(2, 4);
        s.Begin(3, twice: [0, 2]);
        Assert.Equal(5, s.Slots);
        var given = s.Dispatch().ToDictionary(a => a.Worker, a => a.Items);
        Assert.Equal([0, 2], given[1]); // the second slot of 2 is not for worker 1, which has the first
        Assert.Equal([1, 0, 2], given[2]);
        Assert.True(s.IsAssigned(0, 1) && s.IsAssigned(0, 2));
        Assert.Empty(s.TakeStranded()); // both workers hold their slots

        // worker 2 leaves: its copies wait, and the one worker left may not take the second slot of an item it holds
        s.Complete(0, 1);
        s.Remove(2);
        Assert.Equal([1], s.Dispatch().Single(a => a.Worker == 1).Items);
        Assert.Equal([0, 2], s.TakeStranded().Order());
        Assert.False(s.AllComplete);
        s.Complete(2, 1);
        s.Complete(1, 1);
        Assert.True(s.AllComplete);
    }

    [Fact]
    public void Two_honest_workers_agree_and_the_verified_step_is_the_same_bits_as_without_verification()
    {
        var run = new Run(All, 1, 2);
        Assert.Empty(run.DeliverAll());
        AssertSameBits(run.Honest(), run.Sum());
        Assert.Equal(0, run.Verification.Counts.Mismatches);
        Assert.False(run.Scheduler.IsQuarantined(1) || run.Scheduler.IsQuarantined(2));
        run.Verification.Applied(run.Step);
        Assert.Equal(4, run.Verification.Counts.ShardsVerified);
    }

    [Fact]
    public void When_two_workers_disagree_the_coordinator_decides_and_the_liar_loses_all_its_work_in_the_step()
    {
        var run = new Run([0], 1, 2, 3);
        run.Lies(2);
        var given = run.Scheduler.Dispatch().ToDictionary(a => a.Worker, a => a.Items);
        Assert.Equal([1, 0], given[2]); // shard 1 (not verified) and the second copy of shard 0
        Assert.Empty(run.Deliver(2, 1)); // a lie nobody compares yet
        Assert.Empty(run.Deliver(1, 0)); // one opinion on shard 0: nothing to compare
        var exposed = run.Deliver(2, 0); // two opinions that differ: the coordinator computes shard 0 and decides
        Assert.Equal([new Exposure(2, "w2", 0, 0)], exposed);
        Assert.True(run.Scheduler.IsQuarantined(2));
        Assert.False(run.Scheduler.IsQuarantined(1));
        Assert.False(run.Scheduler.IsAssigned(1, 2));
        Assert.Empty(run.Deliver(1, 3));
        Assert.Empty(run.Deliver(3, 2));
        Assert.False(run.Scheduler.AllComplete);
        // shard 1, which worker 2 computed unchecked, is computed again by another worker
        var redo = run.Scheduler.Dispatch();
        Assert.Equal(1, Assert.Single(redo).Items.Single());
        Assert.NotEqual(2, redo[0].Worker);
        Assert.Empty(run.Deliver(redo[0].Worker, 1));
        Assert.True(run.Scheduler.AllComplete);
        AssertSameBits(run.Honest(), run.Sum());
        Assert.Equal(1, run.Verification.Counts.Mismatches);
        Assert.Equal(["w2"], run.Verification.Counts.Quarantined);
    }

    [Fact]
    public void A_liar_among_three_workers_is_caught_whoever_delivers_first_and_the_step_is_the_honest_one()
    {
        foreach (int liar in new[] { 1, 2, 3 })
        {
            var run = new Run(All, 1, 2, 3);
            run.Lies(liar);
            var exposed = run.DeliverAll();
            Assert.NotEmpty(exposed);
            Assert.All(exposed, e => Assert.Equal(liar, e.Worker));
            Assert.True(run.Scheduler.IsQuarantined(liar));
            Assert.Equal(2, run.Scheduler.HealthyCount);
            AssertSameBits(run.Honest(), run.Sum());
        }
    }

    [Fact]
    public void A_lone_worker_gets_its_second_opinion_from_the_coordinator_which_catches_it_lying()
    {
        var honest = new Run(All, 1);
        Assert.Empty(honest.DeliverAll()); // the coordinator computed every second copy itself
        AssertSameBits(honest.Honest(), honest.Sum());

        var run = new Run(All, 1);
        run.Lies(1);
        foreach (int shard in run.Scheduler.Dispatch().Single().Items) Assert.Empty(run.Deliver(1, shard));
        var exposed = run.Verification.ComputeStranded(run.Step, run.Scheduler, run.Parameters);
        Assert.Contains(exposed, e => e.Worker == 1);
        Assert.True(run.Scheduler.IsQuarantined(1));
        Assert.False(run.Scheduler.AnyHealthy); // the coordinator waits for another worker (and stops when none comes)
        Assert.Empty(run.Verification.ComputeStranded(run.Step, run.Scheduler, run.Parameters));
    }
}
