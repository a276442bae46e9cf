using Akka.Actor;
using Akka.Event;
using DistributedNN.Protocol;
using DistributedNN.Training;
using DistributedNN.Transport;

namespace DistributedNN.Coordinator;

/// <summary>
/// The coordinator: routes messages between the plain classes that hold the run — the <see cref="TrainingJob"/> (all
/// training state, its steps and evaluations), the <see cref="WorkerRegistry"/>, the <see cref="WorkScheduler"/> (who
/// computes what) and the job's <see cref="CoordinatorTransport"/> (a link per worker) — in four behaviours:
/// waiting for workers, training (a step's shards out), evaluating (an epoch's test chunks out), done.
/// </summary>
public sealed class CoordinatorActor : ReceiveActor, IWithTimers
{
    private sealed record LinkOpened(IActorRef Worker, IWorkerLink Link);
    private sealed record LinkFailed(IActorRef Worker, string Reason);
    private sealed record Delivered(IWorkerLink Link, WorkResult Result, float[]? Gradient);
    private sealed record Violated(IWorkerLink Link, string Reason);
    private sealed record LinkLost(IWorkerLink Link, string Reason);
    private sealed record SendsFlushed(long Step);
    private sealed record RoundDeadline(int Round, bool CountStalls);
    private sealed class StartDeadline { public static readonly StartDeadline Instance = new(); }
    private sealed class NoWorkersDeadline { public static readonly NoWorkersDeadline Instance = new(); }

    private sealed class LinkEvents(IActorRef self) : IWorkerLinkEvents
    {
        public void Delivered(IWorkerLink link, WorkResult result, float[]? gradient) => self.Tell(new Delivered(link, result, gradient));
        public void Violated(IWorkerLink link, string reason) => self.Tell(new Violated(link, reason));
        public void Lost(IWorkerLink link, string reason) => self.Tell(new LinkLost(link, reason));
    }

    private readonly CoordinatorSettings _s;
    private readonly TrainingJob _job;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly WorkerRegistry _registry = new();
    private readonly WorkScheduler _scheduler = new();
    private readonly CoordinatorTransport _transport;
    private IWorkRound? _round;
    private Action _whenComplete = () => { };
    private int _rounds;

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(CoordinatorSettings settings) => Akka.Actor.Props.Create(() => new CoordinatorActor(settings));

    public CoordinatorActor(CoordinatorSettings settings)
    {
        _s = settings;
        _job = settings.Job;
        _transport = CoordinatorTransport.Create(settings.Wire.Transport, _job.Link(settings.Wire), _job.Pool, new LinkEvents(Self), Self);
        WaitingForWorkers();
    }

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
        Receive<Delivered>(d => _job.Pool.Return(d.Gradient));
        Receive<StartDeadline>(_ => Fail(new UserErrorException(
            $"only {_registry.ReadyCount} of the {_s.Policy.MinWorkers} workers needed were ready after {_s.Policy.StartTimeout.TotalSeconds:F0} s; " +
            $"start workers with: dnn-worker --seed-nodes {Akka.Cluster.Cluster.Get(Context.System).SelfAddress}")));
        Common();
    }

    private void Training(StepAggregator step)
    {
        Working();
        Receive<SendsFlushed>(f => { if (f.Step == step.Step) ApplyStep(step); });
        Common();
    }

    private void Evaluating()
    {
        Working();
        Common();
    }

    private void Done() => ReceiveAny(m => { if (m is Delivered d) _job.Pool.Return(d.Gradient); });

    /// <summary>What training and evaluating share: a round of items out to the workers, results in.</summary>
    private void Working()
    {
        Receive<WorkerReady>(r =>
        {
            if (!OnReady(r)) return;
            Timers.Cancel("no-workers");
            Dispatch(); // a worker joining mid-run takes items from now on
        });
        Receive<Delivered>(OnDelivered);
        Receive<RoundDeadline>(OnDeadline);
        Receive<NoWorkersDeadline>(_ =>
        {
            if (!_scheduler.AnyHealthy)
                Fail(new UserErrorException($"no workers left: none came back within {_s.Policy.WorkerWait.TotalSeconds:F0} s; training stopped at step {_job.State.Steps + 1}"));
        });
    }

    private void Common()
    {
        Receive<RegisterWorker>(OnRegister);
        Receive<LinkOpened>(OnLinkOpened);
        Receive<LinkFailed>(f => RemoveWorker(f.Worker, $"no link to it: {f.Reason}"));
        Receive<LinkLost>(l => { if (_registry.Find(l.Link) is { } w) RemoveWorker(w.Actor, l.Reason); });
        Receive<Violated>(v =>
        {
            if (_registry.Find(v.Link) is not { } w) return;
            _log.Warning("Worker {Worker} broke the protocol: {Reason}", w.Name, v.Reason);
            CountBad(w);
        });
        Receive<TensorChunk>(c => _registry.Find(Sender)?.Link?.Receive(c)); // the akka transport's frames, to the sender's link
        Receive<WorkerRefused>(r =>
        {
            if (_registry.Find(Sender) is null) return;
            _log.Error("Worker {Worker} refused the job: {Reason}", Sender.Path, r.Reason);
            RemoveWorker(Sender, "refused the job");
        });
        Receive<WorkerLeaving>(l => { if (l.Job == _job.Id && !_job.State.Finished) RemoveWorker(Sender, "leaving"); });
        Receive<Terminated>(t => { if (_registry.Find(t.ActorRef) is not null) RemoveWorker(t.ActorRef, "terminated"); });
    }

    // ---- workers ----

    private void OnRegister(RegisterWorker r)
    {
        // only the sender counts: a reference inside a message is the sender's word, not proof
        if (!Equals(r.Worker, Sender)) return;
        if (_registry.Find(Sender) is { } known)
        {
            if (known.Link is not null && !known.Ready) Sender.Tell(_job.StartJob(_s.Wire, known.Link.Files)); // our StartJob may have been lost
            return;
        }
        if (r.AccessToken is { Length: not TensorHandshake.TokenSize })
        {
            _log.Warning("Ignoring worker {Worker}: its access token has {Length} bytes, not {Expected}", Sender.Path, r.AccessToken.Length, TensorHandshake.TokenSize);
            return;
        }
        var worker = _registry.Add(Sender, new WorkerContact(Sender, r.DataPlaneHost, r.DataPlanePort, r.AccessToken), r.Cores);
        Context.Watch(Sender);
        _log.Info("Worker {Worker} registered (data plane {Host}:{Port}, {Cores} cores)", worker.Name, r.DataPlaneHost, r.DataPlanePort, r.Cores);
        var actor = Sender;
        _transport.OpenAsync(worker.Contact, CancellationToken.None)
            .PipeTo(Self, success: link => new LinkOpened(actor, link), failure: e => new LinkFailed(actor, Logging.DnnLogging.Innermost(e).Message));
    }

    private void OnLinkOpened(LinkOpened opened)
    {
        if (_registry.Find(opened.Worker) is not { } worker)
        {
            _transport.Close(opened.Link);
            return;
        }
        worker.Link = opened.Link;
        worker.Actor.Tell(_job.StartJob(_s.Wire, opened.Link.Files));
    }

    /// <summary>True when a registered worker became ready for the job (and the scheduler may give it work).</summary>
    private bool OnReady(WorkerReady ready)
    {
        if (ready.Job != _job.Id || _registry.Find(Sender) is not { Link: not null, Ready: false } worker) return false;
        if (ready.DataFingerprint != _job.DataFingerprint)
        {
            string reason = $"its data set differs from the coordinator's (fingerprint {Short(ready.DataFingerprint)}… vs {Short(_job.DataFingerprint)}…): give every node the same --data";
            _log.Error("Refusing worker {Worker}: {Reason}", worker.Name, reason);
            worker.Actor.Tell(new RegistrationRejected(_job.Id, reason));
            RemoveWorker(worker.Actor, "data mismatch");
            return false;
        }
        _registry.MarkReady(worker);
        _scheduler.Add(worker.Id, worker.Capacity);
        _log.Info("Worker {Worker} ready ({Ready} of at least {Min})", worker.Name, _registry.ReadyCount, _s.Policy.MinWorkers);
        return true;
    }

    private static string Short(string fingerprint) => fingerprint.Length > 12 ? fingerprint[..12] : fingerprint;

    private void RemoveWorker(IActorRef actor, string why)
    {
        if (!_registry.Remove(actor, out var worker)) return;
        Context.Unwatch(actor);
        if (worker.Link is not null) _transport.Close(worker.Link);
        _scheduler.Remove(worker.Id); // what it held goes back in the queue
        _log.Warning("Worker {Worker} removed ({Why}); {Left} ready worker(s) left", worker.Name, why, _registry.ReadyCount);
        if (_scheduler.AnyHealthy) Dispatch();
        else if (_round is not null) WaitForWorkers();
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
        BeginRound(step, countStalls: true);
        Become(() => Training(step));
    }

    private void StartEvaluation()
    {
        var evaluation = _job.BeginEvaluation();
        if (evaluation.Items == 0) FinishEpoch(evaluation);
        else
        {
            BeginRound(evaluation, countStalls: false, () => FinishEpoch(evaluation));
            Become(Evaluating);
        }
    }

    private void BeginRound(IWorkRound round, bool countStalls, Action? whenComplete = null)
    {
        _round = round;
        _whenComplete = whenComplete ?? (() => ApplyStep((StepAggregator)round));
        _scheduler.Begin(round.Items);
        Timers.StartSingleTimer("deadline", new RoundDeadline(++_rounds, countStalls), _s.Policy.StepTimeout);
        Dispatch();
    }

    /// <summary>Queued items to workers with room: the weights they need first, then the order, on each worker's link.</summary>
    private void Dispatch()
    {
        if (_round is null) return;
        foreach (var a in _scheduler.Dispatch()) Send(_registry.Find(a.Worker)!, _round.Order(a.Items));
    }

    private void Send(RegisteredWorker worker, WorkOrder order)
    {
        var link = worker.Link!;
        link.SendWeights(_job.State.Steps, _job.State.Version, _job.State.Parameters);
        if (link.SendOrder(order) is { } why) Self.Tell(new LinkLost(link, why)); // removed after this dispatch, its items requeued
    }

    private void OnDelivered(Delivered d)
    {
        var r = d.Result;
        if (_registry.Find(d.Link) is not { } worker || _round is null)
        {
            _job.Pool.Return(d.Gradient);
            return;
        }
        var why = _round.Addressed(r) ?? (_scheduler.IsAssigned(r.Item, worker.Id) ? null
            : new Rejection(RejectionKind.Overtaken, $"{r.Kind} item {r.Item} is not assigned to {worker.Name}"));
        if (why is not null) _job.Pool.Return(d.Gradient);
        else why = _round.Accept(r, d.Gradient, worker.Name);
        if (why is not null)
        {
            Rejected(worker, r.Item, why);
            return;
        }
        _scheduler.Complete(r.Item, worker.Id);
        if (_scheduler.AllComplete) _whenComplete();
        else Dispatch();
    }

    /// <summary>
    /// A rejected result, logged with its worker: late ones (another step, version or owner) are harmless; NaN/∞ is redone by
    /// another worker until two agree (then the model diverged); anything else counts against the worker (quarantine).
    /// </summary>
    private void Rejected(RegisteredWorker worker, int item, Rejection why)
    {
        _log.Warning("Rejected a result from {Worker}: {Reason}", worker.Name, why.Reason);
        if (why.Kind is RejectionKind.Stale or RejectionKind.Overtaken) return;
        if (why.Kind == RejectionKind.NonFinite)
        {
            var verdict = _scheduler.NonFinite(item, worker.Id);
            if (verdict.Diverged)
            {
                Fail(new TrainingDivergedException($"training diverged at epoch {_job.State.Epoch + 1}, step {_job.State.StepInEpoch + 1}: shard {item} gives a NaN or infinite loss/gradient on {verdict.Reporters} worker(s) (learning rate too high?)"));
                return;
            }
            if (verdict.Redo is { } redo) Send(_registry.Find(redo.Worker)!, _round!.Order(redo.Items));
        }
        CountBad(worker);
    }

    private void CountBad(RegisteredWorker worker)
    {
        if (!_scheduler.Bad(worker.Id)) return;
        _log.Error("Worker {Worker} quarantined after {Count} bad results: it gets no more work", worker.Name, WorkScheduler.QuarantineAfter);
        if (!_scheduler.AnyHealthy) WaitForWorkers();
        Dispatch();
    }

    private void OnDeadline(RoundDeadline d)
    {
        if (d.Round != _rounds || _round is null) return;
        var outcome = _scheduler.Deadline(d.CountStalls);
        if (outcome.Stalled)
        {
            Fail(new UserErrorException($"step {_job.State.Steps + 1} made no progress in {WorkScheduler.MaxStalledDeadlines} × {_s.Policy.StepTimeout.TotalSeconds:F0} s: " +
                "shard results are not arriving (lost tensor transfers? with --transport akka, a message over akka.remote's maximum-frame-size is dropped)"));
            return;
        }
        foreach (var (item, owner) in outcome.Late)
            _log.Warning("{Kind} item {Item} from {Worker} is late (nothing within {Timeout}); handing it out again",
                _round.Kind, item, _registry.Find(owner)?.Name ?? $"#{owner}", _s.Policy.StepTimeout);
        Timers.StartSingleTimer("deadline", d, _s.Policy.StepTimeout);
        Dispatch();
    }

    private void ApplyStep(StepAggregator step)
    {
        // the optimizer rewrites the weights in place: every transfer of this version must have left them first
        var sending = _registry.All.Select(w => w.Link?.Flushed).OfType<Task>().Where(t => !t.IsCompleted).ToArray();
        if (sending.Length > 0)
        {
            Task.WhenAll(sending).ContinueWith(_ => new SendsFlushed(step.Step), TaskScheduler.Default).PipeTo(Self);
            return;
        }
        Timers.Cancel("deadline");
        _round = null;
        bool epochEnded;
        try { epochEnded = _job.ApplyStep(step); }
        catch (TrainingDivergedException e)
        {
            Fail(e);
            return;
        }
        _s.Hooks.OnStep?.Invoke(_job.State, _scheduler.HealthyCount);
        if (epochEnded) StartEvaluation();
        else
        {
            Checkpoint(epochEnded: false);
            StartStep();
        }
    }

    private void FinishEpoch(EvaluationRound evaluation)
    {
        Timers.Cancel("deadline");
        _round = null;
        var (result, workers) = _job.FinishEpoch(evaluation);
        foreach (var w in workers)
        {
            _log.Info("Epoch {Epoch}: worker {Worker} computed {Shards} shards, {Ms:F2} ms per shard (max {Max:F2})", w.Epoch, w.Worker, w.Shards, w.MeanMs, w.MaxMs);
            if (w.Slow)
                _log.Warning("Worker {Worker} is slow: {Ms:F2} ms per shard in epoch {Epoch}, over {Factor}× the other workers' median; the step waits for it (check that machine's load)",
                    w.Worker, w.MeanMs, w.Epoch, WorkerStatsTracker.SlowFactor);
        }
        _s.Hooks.OnEpoch?.Invoke(result);
        Checkpoint(epochEnded: true);
        if (_job.State.Finished) Finish();
        else StartStep();
    }

    private void Checkpoint(bool epochEnded)
    {
        if (_job.CheckpointIfDue(epochEnded) is { } error) _log.Error("Cannot write a checkpoint: {Reason}", error);
    }

    private void Finish()
    {
        foreach (var w in _registry.All) w.Actor.Tell(new JobDone(_job.Id, "finished"));
        _s.Hooks.Completion.TrySetResult(_job.Outcome(_registry.MaxReady, _transport.BytesSent, _transport.BytesReceived));
        Become(Done);
    }

    private void Fail(Exception e)
    {
        Timers.CancelAll();
        // everything up to the last applied step is kept (a diverged step was never applied)
        var (path, error) = _job.CheckpointNow();
        if (path is not null) _log.Warning("Saved checkpoint {Path}", path);
        if (error is not null) _log.Error("Cannot write a checkpoint: {Reason}", error);
        foreach (var w in _registry.All) w.Actor.Tell(new JobDone(_job.Id, "stopped: " + e.Message));
        _s.Hooks.Completion.TrySetException(e);
        Become(Done);
    }

    protected override void PostStop()
    {
        _transport.Dispose(); // closes every link (and deletes shared-memory files: they end with the job)
        _s.Hooks.Completion.TrySetException(new UserErrorException("the coordinator stopped before training finished"));
    }
}
