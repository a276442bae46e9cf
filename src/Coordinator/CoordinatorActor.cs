using Akka.Actor;
using Akka.Event;
using DistributedNN.Protocol;
using DistributedNN.Training;
using DistributedNN.Transport;

namespace DistributedNN.Coordinator;

/// <summary>
/// The coordinator: routes messages between the plain classes that hold the run — the <see cref="TrainingJob"/> (all
/// training state, its steps and evaluations), the <see cref="WorkerRegistry"/>, the <see cref="RoundDriver"/> over the
/// <see cref="WorkScheduler"/> (who computes what) and the job's <see cref="CoordinatorTransport"/> (a link per worker) —
/// in four behaviours: waiting for workers, training (a step's shards out), evaluating (an epoch's test chunks out), done.
/// </summary>
public sealed class CoordinatorActor : ReceiveActor, IWithTimers
{
    private sealed record SendsFlushed(long Step);
    private sealed record RoundDeadline(int Round, bool CountStalls);
    private sealed class StartDeadline { public static readonly StartDeadline Instance = new(); }
    private sealed class NoWorkersDeadline { public static readonly NoWorkersDeadline Instance = new(); }

    private readonly CoordinatorSettings _s;
    private readonly TrainingJob _job;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly WorkerRegistry _registry = new();
    private readonly RoundDriver _rounds;
    private readonly CoordinatorTransport _transport;
    private readonly IgnoredMessages _ignored = new(Context.GetLogger(), "not a registered worker");
    private Action _whenComplete = () => { };
    private int _roundNumber;

    public ITimerScheduler Timers { get; set; } = null!;
    public static Props Props(CoordinatorSettings settings) => Akka.Actor.Props.Create(() => new CoordinatorActor(settings));

    public CoordinatorActor(CoordinatorSettings settings)
    {
        _s = settings;
        _job = settings.Job;
        var self = Self;
        _rounds = new RoundDriver(_registry, new WorkScheduler(), _job.State, (link, why) => self.Tell(new LinkLost(link, why)), _job.Verification, _log, _job.Reduction(settings.Wire)); // removed after this dispatch
        _transport = CoordinatorTransport.Create(settings.Wire.Transport, _job.Link(settings.Wire, settings.Policy.StepTimeout), _job.Pool, new LinkEvents(Self), Self);
        Akka.Cluster.Cluster.Get(Context.System).Subscribe(Self, Akka.Cluster.ClusterEvent.InitialStateAsEvents, // (the event stream drops a stopped subscriber)
            typeof(Akka.Cluster.ClusterEvent.IReachabilityEvent), typeof(Akka.Cluster.ClusterEvent.MemberRemoved));
        WaitingForWorkers();
    }

    private WorkScheduler Scheduler => _rounds.Scheduler;
    protected override void PreStart() => Timers.StartSingleTimer("start", StartDeadline.Instance, _s.Policy.StartTimeout);

    // ---- behaviours ----

    private void WaitingForWorkers()
    {
        Receive<WorkerReady>(r =>
        {
            if (!OnReady(r) || _registry.ReadyCount < _s.Policy.MinWorkers || _job.State.Finished) return;
            Timers.Cancel("start");
            StartStep();
        });
        Receive<LinkDelivered>(d => _job.Pool.Return(d.Gradient));
        Receive<StartDeadline>(_ => Fail(CoordinatorErrors.TooFewWorkers(_registry.ReadyCount, _s.Policy, Akka.Cluster.Cluster.Get(Context.System).SelfAddress)));
        Common();
    }

    private void Training(StepAggregator step)
    {
        Working();
        Receive<SendsFlushed>(f => { if (f.Step == step.Step) ApplyStep(step); });
        Common();
    }

    private void Evaluating() { Working(); Common(); }

    private void Done() => ReceiveAny(m => { if (m is LinkDelivered d) _job.Pool.Return(d.Gradient); });

    /// <summary>What training and evaluating share: a round of items out to the workers, results in.</summary>
    private void Working()
    {
        Receive<WorkerReady>(r =>
        {
            if (!OnReady(r)) return;
            Timers.Cancel("no-workers");
            Dispatch(); // a worker joining mid-run takes items from now on
        });
        Receive<LinkDelivered>(OnDelivered);
        Receive<RoundDeadline>(OnDeadline);
        Receive<NoWorkersDeadline>(_ => { if (!Scheduler.AnyHealthy) Fail(CoordinatorErrors.NoWorkersLeft(_s.Policy, _job.State.Steps)); });
    }

    private void Common()
    {
        Receive<RegisterWorker>(OnRegister);
        Receive<LinkOpened>(OnLinkOpened);
        Receive<LinkFailed>(f => RemoveWorker(f.Worker, $"no link to it: {f.Reason}"));
        Receive<LinkLost>(l => { if (_registry.Find(l.Link) is { } w) RemoveWorker(w.Actor, l.Reason); });
        Receive<LinkViolated>(v =>
        {
            if (_registry.Find(v.Link) is not { } w) return;
            _log.Warning("Worker {Worker} broke the protocol: {Reason}", w.Name, v.Reason);
            if (Scheduler.Bad(w.Id)) Quarantined(w);
        });
        Receive<TensorChunk>(c => _registry.Find(Sender)?.Link?.Receive(c)); // the akka transport's frames, to the sender's link
        Receive<WorkerRefused>(r => RemoveWorker(Sender, $"it refused the job: {ProtocolLimits.Clip(r.Reason)}"), _ => _registry.Find(Sender) is not null);
        Receive<WorkerLeaving>(l => { if (l.Job == _job.Id && !_job.State.Finished) RemoveWorker(Sender, "leaving"); }, _ => _registry.Find(Sender) is not null);
        Receive<IDnnMessage>(m => _ignored.Add(m, Sender)); // a worker's message from an actor that is not a registered worker
        Receive<Terminated>(t => RemoveWorker(t.ActorRef, "terminated"));
        Receive<Akka.Cluster.ClusterEvent.IClusterDomainEvent>(e => { if (_rounds.Reachability.Apply(e)) Dispatch(lost: true); }); // a worker cut off or back
    }

    // ---- workers ----

    private void OnRegister(RegisterWorker r)
    {
        if (_registry.Find(Sender) is { } known)
        {
            if (known.Link is not null && !known.Ready) Sender.Tell(_job.StartJob(_s.Wire, known.Link.Files)); // our StartJob may have been lost
            return;
        }
        if (_registry.Add(Sender, r, out string? refusal) is not { } worker) // the sender's, within the protocol's bounds
        {
            _log.Warning("Ignoring a registration from {Sender}: {Reason}", Sender.Path, refusal);
            return;
        }
        Context.Watch(Sender);
        _log.Info("Worker {Worker} registered (data plane {Host}:{Port}, {Cores} cores)", worker.Name, r.DataPlaneHost, r.DataPlanePort, r.Cores);
        _transport.OpenAsync(worker.Contact, CancellationToken.None)
            .PipeTo(Self, success: link => new LinkOpened(worker, link), failure: e => new LinkFailed(worker.Actor, Logging.DnnLogging.Innermost(e).Message));
    }

    private void OnLinkOpened(LinkOpened opened)
    {
        if (_registry.Find(opened.Worker.Actor) != opened.Worker)
        {
            _transport.Close(opened.Link); // removed meanwhile
            return;
        }
        _registry.Attach(opened.Worker, opened.Link);
        opened.Worker.Actor.Tell(_job.StartJob(_s.Wire, opened.Link.Files));
    }

    /// <summary>True when a registered worker became ready for the job (and the scheduler may give it work).</summary>
    private bool OnReady(WorkerReady ready)
    {
        if (ready.Job != _job.Id || _registry.Find(Sender) is not { Link: not null, Ready: false } worker) return false;
        if (_job.Refusal(ready) is { } reason)
        {
            _log.Error("Refusing worker {Worker}: {Reason}", worker.Name, reason);
            worker.Actor.Tell(new RegistrationRejected(_job.Id, reason));
            RemoveWorker(worker.Actor, "refused");
            return false;
        }
        _rounds.Admit(worker);
        _log.Info("Worker {Worker} ready ({Ready} of at least {Min})", worker.Name, _registry.ReadyCount, _s.Policy.MinWorkers);
        return true;
    }

    private void RemoveWorker(IActorRef actor, string why)
    {
        if (_rounds.Release(actor) is not { } worker) return; // what it held goes back in the queue
        Context.Unwatch(actor);
        if (worker.Link is not null) _transport.Close(worker.Link);
        _log.Warning("Worker {Worker} removed ({Why}); {Left} ready worker(s) left", worker.Name, why, _registry.ReadyCount);
        Dispatch(lost: true);
    }

    private void Quarantined(RegisteredWorker worker)
    {
        _log.Error("Worker {Worker} quarantined after {Count} bad results: it gets no more work", worker.Name, WorkScheduler.QuarantineAfter);
        Dispatch(lost: true);
    }

    private void WaitForWorkers()
    {
        _log.Error("No healthy workers left at step {Step}; waiting up to {Wait} s for a worker to join (dnn-worker --seed-nodes {Address})",
            _job.State.Steps + 1, _s.Policy.WorkerWait.TotalSeconds, Akka.Cluster.Cluster.Get(Context.System).SelfAddress);
        Timers.StartSingleTimer("no-workers", NoWorkersDeadline.Instance, _s.Policy.WorkerWait);
    }

    // ---- rounds: a step's shards, an epoch's evaluation chunks ----

    private void StartStep()
    {
        var step = _job.BeginStep();
        BeginRound(step, countStalls: true, () => ApplyStep(step));
        Become(() => Training(step));
    }

    private void StartEvaluation()
    {
        var evaluation = _job.BeginEvaluation();
        if (evaluation.Items == 0)
        {
            FinishEpoch(evaluation);
            return;
        }
        BeginRound(evaluation, countStalls: false, () => FinishEpoch(evaluation));
        Become(Evaluating);
    }

    private void BeginRound(IWorkRound round, bool countStalls, Action whenComplete)
    {
        _rounds.Begin(round);
        _whenComplete = whenComplete;
        Timers.StartSingleTimer("deadline", new RoundDeadline(++_roundNumber, countStalls), _s.Policy.StepTimeout);
        Dispatch();
    }

    /// <summary>Items out (none if the round is <paramref name="complete"/>): the coordinator's own computations may complete it; a <paramref name="lost"/> worker (removed, quarantined, cut off) or an exposed liar may leave no healthy one mid-round: then the wait for workers.</summary>
    private void Dispatch(bool complete = false, bool lost = false)
    {
        var outcome = complete ? default : _rounds.Dispatch();
        if ((lost || outcome.Exposed) && !Scheduler.AnyHealthy && _rounds.Round is not null) WaitForWorkers();
        if (complete || outcome.Complete) _whenComplete();
    }

    private void OnDelivered(LinkDelivered d)
    {
        if (_registry.Find(d.Link) is not { } worker)
        {
            _job.Pool.Return(d.Gradient);
            return;
        }
        var delivery = _rounds.Deliver(worker, d.Result, d.Gradient, _job.Pool.Return);
        if (delivery.Rejected is { } why) _log.Warning("Rejected a result from {Worker}: {Reason}", worker.Name, why.Reason);
        if (delivery.DivergedOn is { } workers)
        {
            Fail(CoordinatorErrors.Diverged(_job.State, d.Result, workers));
            return;
        }
        if (delivery.Quarantined) Quarantined(worker);
        Dispatch(delivery.Complete, delivery.Exposed);
    }

    private void OnDeadline(RoundDeadline d)
    {
        if (d.Round != _roundNumber || _rounds.Round is not { } round) return;
        var (late, stalled) = _rounds.Deadline(d.CountStalls);
        if (stalled)
        {
            Fail(CoordinatorErrors.Stalled(_s.Policy, _job.State.Steps));
            return;
        }
        foreach (var (item, worker) in late)
            _log.Warning("{Kind} item {Item} from {Worker} is late (nothing within {Timeout}); handing it out again", round.Kind, item, worker, _s.Policy.StepTimeout);
        Timers.StartSingleTimer("deadline", d, _s.Policy.StepTimeout);
        Dispatch();
    }

    private void ApplyStep(StepAggregator step)
    {
        // the optimizer rewrites the weights in place: every transfer of this version must have left them first
        if (_registry.Sending() is { } sending)
        {
            sending.ContinueWith(_ => new SendsFlushed(step.Step), TaskScheduler.Default).PipeTo(Self);
            return;
        }
        Timers.Cancel("deadline");
        _rounds.End();
        bool epochEnded;
        try { epochEnded = _job.ApplyStep(step, _s.Hooks, Scheduler.HealthyCount, _log); }
        catch (TrainingDivergedException e)
        {
            Fail(e);
            return;
        }
        if (epochEnded) StartEvaluation();
        else StartStep();
    }

    private void FinishEpoch(EvaluationRound evaluation)
    {
        Timers.Cancel("deadline");
        _rounds.End();
        _job.FinishEpoch(evaluation, _s.Hooks, _log);
        if (_job.State.Finished) Finish();
        else StartStep();
    }

    private void Finish() => End("finished", () => _s.Hooks.Completion.TrySetResult(_job.Outcome(_registry.MaxReady, _transport.BytesSent, _transport.BytesReceived)));

    private void Fail(Exception e)
    {
        Timers.CancelAll();
        _job.CheckpointOnStop(_log); // (a diverged step was never applied)
        End("stopped: " + e.Message, () => _s.Hooks.Completion.TrySetException(e));
    }

    private void End(string outcome, Action complete)
    {
        foreach (var w in _registry.All) w.Actor.Tell(new JobDone(_job.Id, outcome));
        complete();
        Become(Done);
    }

    protected override void PostStop()
    {
        _transport.Dispose(); // closes every link (and deletes shared-memory files: they end with the job)
        _s.Hooks.Completion.TrySetException(new UserErrorException("the coordinator stopped before training finished"));
    }
}
