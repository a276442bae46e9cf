using Akka.Event;
using DistributedNN.Protocol;

namespace DistributedNN.Coordinator;

/// <summary>What a delivered result led to: whether the round is complete, why it was rejected, and what follows from that.</summary>
/// <param name="DivergedOn">NaN/∞ for an item on this many workers: the model diverged (null: it did not)</param>
/// <param name="Redo">the worker a NaN/∞ item was handed to (its order is sent)</param>
/// <param name="Quarantined">the result was the worker's last bad one: it gets no more work</param>
/// <param name="Exposed">verification caught a worker lying (this one or another): quarantined, logged, its work in the step queued again</param>
public sealed record Delivery(bool Complete, Rejection? Rejected = null, int? DivergedOn = null, RegisteredWorker? Redo = null, bool Quarantined = false,
    bool Exposed = false);

/// <summary>What a dispatch led to: the coordinator's own computations completed the round, or exposed a liar.</summary>
public readonly record struct DispatchOutcome(bool Complete, bool Exposed);

/// <summary>
/// The round in progress — a step's shards or an epoch's evaluation chunks (<see cref="IWorkRound"/>) — between the
/// <see cref="WorkScheduler"/> (who has which item) and the <see cref="WorkerRegistry"/> (who the workers are): turns
/// assignments into orders on the workers' links and judges each delivered result. No actors here.
/// </summary>
/// <param name="state">the weights every order is computed with</param>
/// <param name="unreachable">told of a link that refused an order (the coordinator removes its worker)</param>
/// <param name="verification">--verify-fraction's checks of the step's shards (null: none)</param>
/// <param name="topology">the sharded topology's layouts (null: the star, every gradient to the coordinator)</param>
public sealed class RoundDriver(WorkerRegistry registry, WorkScheduler scheduler, Training.TrainingState state, Action<Transport.IWorkerLink, string> unreachable,
    ShardVerification? verification = null, ILoggingAdapter? log = null, ReduceTopology? topology = null)
{
    private readonly List<RegisteredWorker> _joining = new(); // ready, waiting for the next layout
    private readonly List<RegisteredWorker> _benched = new(); // a stuck slice owner, out of the layout until the next step

    public IWorkRound? Round { get; private set; }
    public WorkScheduler Scheduler => scheduler;
    /// <summary>The workers whose nodes are cut off (the cluster's reachability events).</summary>
    public WorkerReachability Reachability { get; } = new(registry, scheduler, log);

    /// <summary>
    /// A registered worker ready for the job: the scheduler may give it work from now on (once its node is reachable) — in a
    /// sharded step, from the next step on (it is not in the step's layout), unless no one else can work.
    /// </summary>
    public void Admit(RegisteredWorker worker)
    {
        registry.MarkReady(worker);
        if (topology is not null && Round is StepAggregator && scheduler.AnyHealthy)
        {
            _joining.Add(worker);
            return;
        }
        Schedule(worker);
    }

    private void Schedule(RegisteredWorker worker)
    {
        scheduler.Add(worker.Id, worker.Capacity);
        Reachability.Admitted(worker);
    }

    /// <summary>A worker gone: out of the registry (returned, null if it was not in it), its items back in the queue.</summary>
    public RegisteredWorker? Release(Akka.Actor.IActorRef actor)
    {
        if (!registry.Remove(actor, out var worker)) return null;
        scheduler.Remove(worker.Id);
        _joining.Remove(worker);
        _benched.Remove(worker); // a member's gradient slices, or its slice, are lost with it: Dispatch starts the step again without it
        return worker;
    }

    public void Begin(IWorkRound round)
    {
        Round = round;
        scheduler.Begin(round.Items, round.Verified);
        foreach (var w in _joining.Concat(_benched)) Schedule(w);
        _joining.Clear();
        _benched.Clear();
        Reachability.BeginRound();
        if (topology is null) return;
        if (round is StepAggregator step && !topology.Covers(Members())) Relayout(step);
        else
        {
            topology.Held();
            if (round is StepAggregator same) same.ShardedOver(topology.Id, topology.Bounds, topology.Owners);
        }
    }

    /// <summary>
    /// The workers that compute, in registration order: a sharded step's members. Whenever they change — one gone, cut off,
    /// quarantined, a slice owner stuck, one back or joining when no one else could work — the step starts over under a new layout.
    /// </summary>
    private List<RegisteredWorker> Members() => registry.All
        .Where(w => w.Ready && scheduler.Contains(w.Id) && !scheduler.IsQuarantined(w.Id) && !scheduler.IsCutOff(w.Id)).OrderBy(w => w.Id).ToList();

    /// <summary>A new layout for the step, which starts over under it.</summary>
    private void Relayout(StepAggregator step)
    {
        var members = Members();
        if (members.Count == 0) return; // no one to work: a worker back or joining brings a new layout
        topology!.Start(members);
        step.ShardedOver(topology.Id, topology.Bounds, topology.Owners);
        scheduler.Begin(step.Items, step.Verified);
        log?.Info("Step {Step}: reduce layout {Layout} over {Members} worker(s)", step.Step + 1, topology.Id, members.Count);
    }

    /// <summary>The round is over: a step's compute times from workers cut off during it are not counted (they may hold the stall).</summary>
    public void End()
    {
        if (Round is StepAggregator step) step.Untime(Reachability.CutOffInRound);
        Round = null;
    }

    /// <summary>
    /// Queued items to healthy workers with room: each gets the weights it needs, then its order, on its link. A verified
    /// shard that no healthy worker may compute a second time is computed by the coordinator, which may complete the round.
    /// </summary>
    public DispatchOutcome Dispatch()
    {
        if (Round is not { } round) return default;
        if (topology is not null && round is StepAggregator sharded && !topology.Covers(Members())) Relayout(sharded);
        bool wasComplete = scheduler.AllComplete && Settled(round), exposed = false;
        while (true)
        {
            foreach (var a in scheduler.Dispatch()) Send(registry.Find(a.Worker)!, round.Order(a.Items));
            if (verification is null || round is not StepAggregator step) break;
            var liars = verification.ComputeStranded(step, scheduler, state.Parameters);
            Report(liars);
            exposed |= liars.Count > 0;
            if (liars.Count == 0) break; // else their work is queued again
        }
        return new DispatchOutcome(!wasComplete && scheduler.AllComplete && Settled(round), exposed);
    }

    /// <summary>Every slice sum of a sharded step is in (a round that is not one needs none).</summary>
    private static bool Settled(IWorkRound round) => round is not StepAggregator step || step.Settled;

    private void Send(RegisteredWorker worker, WorkOrder order)
    {
        var link = worker.Link!;
        link.SendWeights(state.Steps, state.Version, state.Parameters);
        if (link.SendOrder(order) is { } why) unreachable(link, why);
    }

    /// <summary>
    /// A result from <paramref name="worker"/>: kept if it is for this round, for an item the worker holds, and sound; otherwise
    /// rejected — late ones (another round, or an item handed to another worker) are harmless, NaN/∞ is redone elsewhere until
    /// two workers agree, anything else counts against the worker. The gradient is the round's when kept, the pool's otherwise.
    /// </summary>
    public Delivery Deliver(RegisteredWorker worker, WorkResult result, float[]? gradient, Action<float[]?> release)
    {
        if (Round is not { } round)
        {
            release(gradient);
            return new Delivery(false, Rejection.Stale("no round is running"));
        }
        if (result.Kind == WorkKind.SliceSum) // a slice owner's sum: not an item of the schedule
        {
            var rejected = round.Addressed(result) ?? round.Accept(result, gradient, worker.Id, worker.Name);
            release(gradient);
            if (rejected is null) return new Delivery(scheduler.AllComplete && Settled(round));
            return new Delivery(false, rejected, DivergedOn: rejected.Kind == RejectionKind.NonFinite ? 1 : null); // a sum is not redone: the step stops
        }
        // a sharded step's item held by another worker, or queued, counts from the first worker whose result is sound
        // (WorkScheduler.CanClaim) — not where --verify-fraction checks workers: a worker must not pick which items it answers
        bool assigned = scheduler.IsAssigned(result.Item, worker.Id);
        bool mayClaim = topology is not null && verification is null && round is StepAggregator;
        var why = round.Addressed(result) ?? (assigned || (mayClaim && scheduler.CanClaim(result.Item, worker.Id)) ? null
            : new Rejection(RejectionKind.Overtaken, $"{result.Kind} item {result.Item} is not assigned to {worker.Name}"));
        why ??= round.Accept(result, gradient, worker.Id, worker.Name);
        if (why is not null) release(gradient);
        // what a worker sends for an item it does not hold never counts against it, nor has it redone
        if (why is not null && !assigned && why.Kind != RejectionKind.Overtaken)
            why = new Rejection(RejectionKind.Overtaken, $"{why.Reason} ({result.Kind} item {result.Item} is not {worker.Name}'s)");
        if (why is null)
        {
            if (!assigned) scheduler.Claim(result.Item, worker.Id);
            scheduler.Complete(result.Item, worker.Id);
            bool exposed = Verify(round, result.Item);
            return new Delivery(scheduler.AllComplete && Settled(round), Exposed: exposed);
        }
        if (why.Kind is RejectionKind.Stale or RejectionKind.Overtaken) return new Delivery(false, why);
        RegisteredWorker? redo = null;
        if (why.Kind == RejectionKind.NonFinite)
        {
            var verdict = scheduler.NonFinite(result.Item, worker.Id);
            if (verdict.Diverged) return new Delivery(false, why, DivergedOn: verdict.Reporters);
            if (verdict.Redo is { } r) Send(redo = registry.Find(r.Worker)!, round.Order(r.Items));
        }
        return new Delivery(false, why, Redo: redo, Quarantined: scheduler.Bad(worker.Id));
    }

    /// <summary>A verified shard's opinions compared (a dispute decided by the coordinator); true when a liar was exposed.</summary>
    private bool Verify(IWorkRound round, int item)
    {
        if (verification is null || round is not StepAggregator step || !step.Verified.Contains(item)) return false;
        var liars = verification.Judge(step, item, scheduler, state.Parameters);
        Report(liars);
        return liars.Count > 0;
    }

    private void Report(IReadOnlyList<Exposure> liars)
    {
        foreach (var e in liars)
            log?.Error("Worker {Worker} lied about shard {Shard} of step {Step}: its result differs bit for bit from the coordinator's own computation; " +
                "quarantined, its work in this step is redone by the others", e.Name, e.Shard, e.Step + 1);
    }

    /// <summary>A deadline passed: the late items (with the names of the workers that held them) are queued again, or the round stalls.</summary>
    public (IReadOnlyList<(int Item, string Worker)> Late, bool Stalled) Deadline(bool countStalls)
    {
        // every shard in but a slice sum missing: its owner is stuck; the step starts over under a layout without it (it may come
        // back at the next step, if it answers by then)
        if (Round is StepAggregator { Settled: false } step && scheduler.AllComplete && topology is not null)
        {
            var stuck = step.MissingSlices().Where(i => i < topology.Members.Count).Select(i => topology.Members[i]).ToList();
            foreach (var owner in stuck.Where(o => scheduler.Contains(o.Id)))
            {
                scheduler.Remove(owner.Id);
                _benched.Add(owner);
            }
            foreach (var o in stuck)
                log?.Warning("The slice sum of step {Step} from {Worker} is late (nothing within the step timeout); the step starts again without it", step.Step + 1, o.Name);
            return ([], false); // Dispatch lays the step out again
        }
        var outcome = scheduler.Deadline(countStalls);
        return (outcome.Late.Select(l => (l.Item, registry.Find(l.Worker)?.Name ?? $"#{l.Worker}")).ToList(), outcome.Stalled);
    }
}
