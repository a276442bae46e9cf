using System.Net;
using Akka.Actor;
using Akka.Event;
using DistributedNN.Data;
using DistributedNN.Model;
using DistributedNN.Protocol;
using DistributedNN.Training;
using DistributedNN.Transport;

namespace DistributedNN.Coordinator;

/// <summary>How a distributed run ended.</summary>
public sealed record TrainingOutcome(IReadOnlyList<EpochResult> Epochs, long Steps, string WeightsSha256, int Workers, long TensorBytesSent, long TensorBytesReceived,
    IReadOnlyList<WorkerEpochStats>? WorkerStats = null);

/// <summary>
/// The coordinator: holds all training state (a <see cref="TrainingState"/>), registers and watches
/// workers, and runs each step — weights to every worker once (data plane), shards handed out as
/// workers become free (at most <see cref="InFlightPerWorker"/> at a time each, so a fast worker
/// takes more), results checked and collected by a <see cref="StepAggregator"/>, gradients summed in
/// shard order, the optimizer applied, the version bumped. Each epoch ends with a distributed
/// evaluation on the test set.
/// </summary>
public sealed class CoordinatorActor : ReceiveActor, IWithTimers
{
    /// <summary>Shards in flight per single-core worker (a worker with more cores gets one per core).</summary>
    public const int InFlightPerWorker = 2;

    public sealed record Settings(
        Guid Job, TrainingState State, DataRequest Data, string DataFingerprint, int TestCount, int MinWorkers,
        TimeSpan StepTimeout, TimeSpan StartTimeout, Action<EpochResult>? OnEpoch, TaskCompletionSource<TrainingOutcome> Completion,
        string Transport = Transports.Tcp, TimeSpan? WorkerWait = null,
        DistributedNN.Serialization.Checkpointer? Checkpoints = null, IReadOnlyList<EpochResult>? PreviousEpochs = null,
        DistributedNN.Security.ClusterTls? Tls = null, string GradientFormat = GradientFormats.Fp32, string WeightFormat = GradientFormats.Fp32,
        Action<TrainingState, int>? OnStep = null)
    {
        /// <summary>How long a run with no workers left waits for one to (re)join before it stops.</summary>
        public TimeSpan WaitForWorkers => WorkerWait ?? TimeSpan.FromSeconds(120);
    }

    /// <summary>Bad results (poisoned, malformed, for shards it was not given) before a worker gets no more work.</summary>
    public const int QuarantineAfter = 3;

    /// <summary>Deadlines in a row with no shard completed before the job is stopped rather than waited on forever.</summary>
    public const int MaxStalledDeadlines = 3;

    private sealed class Worker(IActorRef actor, IPEndPoint endpoint, int cores, bool orderFrames)
    {
        /// <summary>It takes orders on its data-plane connection (and answers there).</summary>
        public bool OrderFrames { get; } = orderFrames;
        /// <summary>Shards in flight at once: enough to keep each of its cores busy, and one queued.</summary>
        public int Capacity { get; } = System.Math.Max(InFlightPerWorker, cores);
        public IActorRef Actor { get; } = actor;
        public IPEndPoint Endpoint { get; } = endpoint;
        public TensorChannel? Channel;
        /// <summary>Tensors travel to and from this worker: a data-plane channel, or Akka.Remote chunks.</summary>
        public bool Linked;
        public bool Ready;
        public long WeightsSent = -1;
        /// <summary>Its gradient file (shm transport): region s holds its gradient of shard s.</summary>
        public SharedTensorFile? Gradients;
        /// <summary>Its mailbox (shm transport): orders out, results in, read by <see cref="MailboxReader"/>.</summary>
        public SharedMailbox? Mailbox;
        public Thread? MailboxReader;
        /// <summary>Set before this side closes the mailbox: the reader then leaves without a word.</summary>
        public volatile bool ClosingMailbox;
        public int BadResults;
        public bool Quarantined;
        /// <summary>Missed a deadline and has delivered nothing since: gets work only if nobody else can take it.</summary>
        public bool Suspect;
        public int InFlight;
        public string Name => Actor.Path.Address.HasLocalScope ? Actor.Path.Name : $"{Actor.Path.Address.Host}:{Actor.Path.Address.Port}/{Actor.Path.Name}";
    }

    private sealed record ChannelOpened(IActorRef Worker, TensorChannel Channel);
    private sealed record ChannelFailed(IActorRef Worker, string Reason);
    private sealed record ChannelClosed(IActorRef Worker, TensorChannel Channel, string Reason);
    private sealed record GradientArrived(IActorRef Worker, TensorHeader Header, float[] Buffer);
    private sealed record SendsFlushed(long Step);
    /// <summary>A shard result from a worker's mailbox (shm), with its gradient already copied out of the worker's file (null: no such region).</summary>
    private sealed record MailboxResult(ShardResult Result, float[]? Gradient);
    /// <summary>A worker's mailbox is of no more use: the worker closed it (it is stopping) or left 64 orders unread.</summary>
    private sealed record MailboxLost(IActorRef Worker, SharedMailbox Mailbox, string Why);
    private sealed record StepDeadline(long Step);
    private sealed record EvaluationDeadline(long Version);
    private sealed class StartDeadline { public static readonly StartDeadline Instance = new(); }
    private sealed class NoWorkersDeadline { public static readonly NoWorkersDeadline Instance = new(); }

    private readonly Settings _s;
    private readonly TrainingState _state;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Dictionary<IActorRef, Worker> _workers = new();
    private readonly GradientBufferPool _pool;
    private readonly float[] _gradient;
    private readonly int[] _activity, _layerWidths;
    private readonly WorkerStatsTracker _workerStats = new();
    private readonly int[] _bounds;
    private readonly List<Task> _sends = new();
    private readonly Queue<int> _queue = new();
    private readonly List<EpochResult> _epochs = new();
    private StepAggregator? _step;
    // evaluation of the current epoch
    private BatchStats?[] _chunkResults = [];
    private IActorRef?[] _chunkOwner = [];
    private long _evalVersion = -1;
    private int _maxWorkers;
    private long _retiredBytesSent, _retiredBytesReceived;
    private long _akkaBytesSent, _akkaBytesReceived;
    private long _shmBytesSent, _shmBytesReceived;
    /// <summary>The weights for workers on this machine (shm transport), and how many gradient files were made.</summary>
    private SharedTensorFile? _sharedWeights;
    private int _sharedFiles;
    private readonly Dictionary<(IActorRef Worker, long Step, int Shard), TensorAssembler> _assemblers = new();
    private int _completedAtLastDeadline, _stalledDeadlines;

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(Settings settings) => Akka.Actor.Props.Create(() => new CoordinatorActor(settings));

    public CoordinatorActor(Settings settings)
    {
        _s = settings;
        _state = settings.State;
        _pool = new GradientBufferPool(_state.Spec.ParameterCount);
        if (_s.Transport == Transports.Shm)
            _sharedWeights = SharedTensorFile.Create(System.IO.Path.Combine(SharedTensorFile.Folder, $"dnn-{_s.Job:N}-weights"), 1, _state.Spec.ParameterCount);
        _gradient = GC.AllocateUninitializedArray<float>(_state.Spec.ParameterCount, pinned: true);
        _layerWidths = _state.Spec.Layers.Select(l => l.Outputs).ToArray();
        _activity = new int[_layerWidths.Length];
        _bounds = new int[_state.Settings.Shards + 1];
        _epochs.AddRange(settings.PreviousEpochs ?? []);
        WaitingForWorkers();
    }

    private void Common()
    {
        Receive<RegisterWorker>(OnRegister);
        Receive<ChannelOpened>(OnChannelOpened);
        Receive<ChannelClosed>(c =>
        {
            // a worker whose data plane broke cannot deliver its shards: give them to the others now,
            // rather than after the failure detector and the downing have run their course
            if (!_workers.TryGetValue(c.Worker, out var w) || !ReferenceEquals(w.Channel, c.Channel) || _state.Finished) return;
            _log.Warning("Data-plane connection to worker {Worker} lost: {Reason}", w.Name, c.Reason);
            RemoveWorker(c.Worker, "data plane lost");
        });
        Receive<ChannelFailed>(f =>
        {
            _log.Warning("Cannot open the data plane to worker {Worker}: {Reason}", f.Worker.Path, f.Reason);
            RemoveWorker(f.Worker, "data plane unreachable");
        });
        Receive<WorkerReady>(OnReady);
        Receive<WorkerRefused>(r =>
        {
            _log.Error("Worker {Worker} refused the job: {Reason}", r.Worker.Path, r.Reason);
            RemoveWorker(r.Worker, "refused the job");
        });
        Receive<WorkerLeaving>(l =>
        {
            if (l.Job == _s.Job && !_state.Finished) RemoveWorker(l.Worker, "leaving"); // (a worker no longer listed is left alone)
        });
        Receive<Terminated>(t =>
        {
            if (!_workers.ContainsKey(t.ActorRef)) return;
            _log.Warning("Worker {Worker} is gone", t.ActorRef.Path);
            RemoveWorker(t.ActorRef, "terminated");
        });
    }

    protected override void PreStart() => Timers.StartSingleTimer("start", StartDeadline.Instance, _s.StartTimeout);

    private void WaitingForWorkers()
    {
        Common();
        Receive<GradientArrived>(g => _pool.Return(g.Buffer));
        Receive<TensorChunk>(_ => { });
        Receive<StartDeadline>(_ => Fail(new UserErrorException(
            $"only {_workers.Values.Count(w => w.Ready)} of the {_s.MinWorkers} workers needed were ready after {_s.StartTimeout.TotalSeconds:F0} s; " +
            $"start workers with: dnn-worker --seed-nodes {Akka.Cluster.Cluster.Get(Context.System).SelfAddress}")));
    }

    private void Training()
    {
        Common();
        Receive<ShardResult>(r => OnShardResult(r, null));
        Receive<MailboxResult>(m => OnShardResult(m.Result, m.Gradient));
        Receive<MailboxLost>(m =>
        {
            // (a worker removed and registered again has another mailbox)
            if (_workers.TryGetValue(m.Worker, out var w) && ReferenceEquals(w.Mailbox, m.Mailbox)) RemoveWorker(m.Worker, m.Why);
        });
        Receive<GradientArrived>(OnGradient);
        Receive<TensorChunk>(OnChunk);
        Receive<SendsFlushed>(f =>
        {
            if (_step is not null && f.Step == _step.Step) CompleteStep();
        });
        Receive<StepDeadline>(OnDeadline);
        Receive<EvaluationResult>(OnEvaluationResult);
        Receive<EvaluationDeadline>(OnEvaluationDeadline);
        Receive<NoWorkersDeadline>(_ =>
        {
            if (AnyHealthyWorker) return;
            Fail(new UserErrorException($"no workers left: none came back within {_s.WaitForWorkers.TotalSeconds:F0} s; training stopped at step {_state.Steps + 1}"));
        });
    }

    private bool AnyHealthyWorker => _workers.Values.Any(w => w.Ready && !w.Quarantined);

    // ---- registration ----

    private void OnRegister(RegisterWorker r)
    {
        if (_workers.TryGetValue(r.Worker, out var known))
        {
            if (known.Linked && !known.Ready) r.Worker.Tell(MakeStartJob(known)); // our StartJob may have been lost
            return;
        }
        if (r.AccessToken is { Length: not TensorHandshake.TokenSize })
        {
            _log.Warning("Ignoring worker {Worker}: its access token has {Length} bytes, not {Expected}", r.Worker.Path, r.AccessToken.Length, TensorHandshake.TokenSize);
            return;
        }
        if (!IPAddress.TryParse(r.DataPlaneHost, out var address))
        {
            try { address = Dns.GetHostAddresses(r.DataPlaneHost).First(a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork); }
            catch (Exception e) when (e is System.Net.Sockets.SocketException or InvalidOperationException or ArgumentException)
            {
                _log.Warning("Ignoring worker {Worker}: its data-plane host '{Host}' does not resolve ({Reason})", r.Worker.Path, r.DataPlaneHost, e.Message);
                return;
            }
        }
        var worker = new Worker(r.Worker, new IPEndPoint(address, r.DataPlanePort), System.Math.Max(1, r.Cores), r.OrderFrames);
        _workers[r.Worker] = worker;
        Context.Watch(r.Worker);
        _log.Info("Worker {Worker} registered (data plane {Endpoint}, {Cores} cores)", worker.Name, worker.Endpoint, r.Cores);
        if (_s.Transport == Transports.Akka)
        {
            worker.Linked = true;
            r.Worker.Tell(MakeStartJob());
            return;
        }
        if (_s.Transport == Transports.Shm)
        {
            try
            {
                string name = System.IO.Path.Combine(SharedTensorFile.Folder, $"dnn-{_s.Job:N}-{++_sharedFiles}");
                worker.Gradients = SharedTensorFile.Create(name, _state.Settings.Shards, _state.Spec.ParameterCount);
                worker.Mailbox = SharedMailbox.Create(name + "-mailbox", _state.Settings.Shards, _state.Spec.Layers.Count);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                _log.Error("Cannot make a shared-memory file for worker {Worker}: {Reason}", worker.Name, e.Message);
                CloseShared(worker);
                _workers.Remove(r.Worker);
                Context.Unwatch(r.Worker);
                return;
            }
            StartMailboxReader(worker);
            worker.Linked = true;
            r.Worker.Tell(MakeStartJob(worker));
            return;
        }
        var options = TensorChannelOptions.ForModel(_state.Spec.ParameterCount) with { Tls = _s.Tls, AccessToken = r.AccessToken };
        TensorChannel.ConnectAsync(worker.Endpoint, options, CancellationToken.None)
            .PipeTo(Self, success: ch => new ChannelOpened(r.Worker, ch), failure: e => new ChannelFailed(r.Worker, e.Message));
    }

    private StartJob MakeStartJob(Worker? worker = null) => new(_s.Job, _state.Spec.ToDescription(), _s.Data, _state.Settings.BatchSize, _state.Settings.Shards,
        _state.Settings.Seed, _state.Settings.Shuffle, LocalTrainer.EvaluationChunk, _s.Transport, _s.GradientFormat, _s.WeightFormat,
        _sharedWeights?.Path, worker?.Gradients?.Path, worker?.Mailbox?.Path);

    private void OnChannelOpened(ChannelOpened opened)
    {
        if (!_workers.TryGetValue(opened.Worker, out var worker))
        {
            opened.Channel.DisposeAsync();
            return;
        }
        worker.Channel = opened.Channel;
        worker.Linked = true;
        var sink = new GradientSink(_s.Job, GradientFormats.Kind(_s.GradientFormat), _pool, StepNotices.ResultCount(_layerWidths.Length), opened.Worker, Self);
        var channel = opened.Channel;
        var self = Self;
        _ = Task.Run(async () =>
        {
            string reason = "closed by the worker";
            try { await channel.ReceiveLoopAsync(sink, CancellationToken.None); }
            catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException or InvalidOperationException)
            {
                reason = e.Message;
            }
            self.Tell(new ChannelClosed(opened.Worker, channel, reason));
        });
        worker.Actor.Tell(MakeStartJob());
    }

    /// <summary>Receives shard gradients straight into pooled buffers, and shard results, on the channel's receive thread.</summary>
    private sealed class GradientSink(Guid job, TensorKind kind, GradientBufferPool pool, int resultCount, IActorRef worker, IActorRef coordinator) : ITensorSink
    {
        public bool TryGetDestination(in TensorHeader header, out Memory<float> destination)
        {
            destination = default;
            if (header.Job != job) return false;
            if (header.Kind == TensorKind.Result && header.Count == resultCount) destination = new float[resultCount];
            else if (header.Kind == kind && header.Count == pool.Length) destination = pool.Rent();
            return !destination.IsEmpty;
        }

        public void Received(in TensorHeader header, Memory<float> payload)
        {
            if (header.Kind == TensorKind.Result)
            {
                // sent as the worker: the actor checks it as it would the worker's message
                if (StepNotices.ReadResult(header, payload.Span, worker) is { } result) coordinator.Tell(result, worker);
                return;
            }
            if (System.Runtime.InteropServices.MemoryMarshal.TryGetArray<float>(payload, out var segment) && segment.Array is { } array)
                coordinator.Tell(new GradientArrived(worker, header, array));
        }
    }

    private void OnReady(WorkerReady ready)
    {
        if (ready.Job != _s.Job || !_workers.TryGetValue(ready.Worker, out var worker) || worker.Ready) return;
        if (ready.DataFingerprint != _s.DataFingerprint)
        {
            string reason = $"its data set differs from the coordinator's (fingerprint {ready.DataFingerprint[..12]}… vs {_s.DataFingerprint[..12]}…): give every node the same --data";
            _log.Error("Refusing worker {Worker}: {Reason}", worker.Name, reason);
            ready.Worker.Tell(new RegistrationRejected(_s.Job, reason));
            RemoveWorker(ready.Worker, "data mismatch");
            return;
        }
        worker.Ready = true;
        int count = _workers.Values.Count(w => w.Ready);
        _maxWorkers = System.Math.Max(_maxWorkers, count);
        _log.Info("Worker {Worker} ready ({Ready} of at least {Min})", worker.Name, count, _s.MinWorkers);
        if (_step is null && _chunkResults.Length == 0 && count >= _s.MinWorkers && !_state.Finished)
        {
            Timers.Cancel("start");
            Become(Training);
            StartStep();
        }
        else if (_step is not null || _chunkResults.Length > 0)
        {
            Timers.Cancel("no-workers");
            Dispatch(); // a worker joining mid-run takes shards from now on
        }
    }

    private void RemoveWorker(IActorRef actor, string why)
    {
        if (!_workers.Remove(actor, out var worker)) return;
        Context.Unwatch(actor);
        CloseShared(worker);
        if (worker.Channel is { } channel)
        {
            _retiredBytesSent += channel.BytesSent;
            _retiredBytesReceived += channel.BytesReceived;
            channel.DisposeAsync();
        }
        // whatever it was computing goes back in the queue
        if (_step is not null)
            foreach (int shard in _step.Outstanding(actor).ToList())
            {
                _step.Reset(shard);
                _queue.Enqueue(shard);
            }
        for (int c = 0; c < _chunkOwner.Length; c++)
            if (Equals(_chunkOwner[c], actor) && _chunkResults[c] is null)
            {
                _chunkOwner[c] = null;
                _queue.Enqueue(c);
            }
        _log.Warning("Worker {Worker} removed ({Why}); {Left} ready worker(s) left", worker.Name, why, _workers.Values.Count(w => w.Ready));
        if (_workers.Values.Any(w => w.Ready)) Dispatch();
        else if (_step is not null || _chunkResults.Length > 0)
        {
            _log.Error("No workers left at step {Step}; waiting up to {Wait} s for a worker to join (dnn-worker --seed-nodes {Address})",
                _state.Steps + 1, _s.WaitForWorkers.TotalSeconds, Akka.Cluster.Cluster.Get(Context.System).SelfAddress);
            Timers.StartSingleTimer("no-workers", NoWorkersDeadline.Instance, _s.WaitForWorkers);
        }
    }

    // ---- steps ----

    private void StartStep()
    {
        _state.BeginStep();
        var batch = _state.CurrentBatch;
        _state.Plan.ShardBounds(batch.Length, _bounds);
        _step = new StepAggregator(_s.Job, _state.Steps, _state.Version, _bounds, _pool, _layerWidths);
        _queue.Clear();
        for (int s = 0; s < _bounds.Length - 1; s++) _queue.Enqueue(s);
        foreach (var w in _workers.Values) w.InFlight = 0;
        _completedAtLastDeadline = 0;
        _stalledDeadlines = 0;
        Timers.StartSingleTimer("deadline", new StepDeadline(_step.Step), _s.StepTimeout);
        Dispatch();
    }

    private void SendWeights(Worker w)
    {
        long version = _state.Version;
        if (w.WeightsSent == version || !w.Linked) return;
        if (_sharedWeights is not null)
        {
            // written once per version for every worker on this machine; each copies them out
            if (_sharedWeights.Version != version)
            {
                _sharedWeights.BeginWrite();
                _state.Parameters.CopyTo(_sharedWeights.Region(0));
                _sharedWeights.EndWrite(version);
            }
            _shmBytesSent += (long)_state.Parameters.Length * sizeof(float);
        }
        else if (w.Channel is not null)
        {
            var header = new TensorHeader(_s.Job, _state.Steps, version, GradientFormats.WeightsKind(_s.WeightFormat), TensorHeader.NoShard, _state.Parameters.Length);
            _sends.Add(w.Channel.SendAsync(header, _state.Parameters, CancellationToken.None).AsTask());
        }
        else
        {
            var header = new TensorHeader(_s.Job, _state.Steps, version, TensorKind.Weights, TensorHeader.NoShard, _state.Parameters.Length);
            // the fallback: chunks copied out now, so the optimizer may change the weights right after
            foreach (var chunk in TensorChunker.Split(header, _state.Parameters, TensorChunker.SmallObjectChunkFloats)) w.Actor.Tell(chunk);
            _akkaBytesSent += header.PayloadBytes;
        }
        w.WeightsSent = version;
    }

    /// <summary>An order to a worker: into its mailbox (shm), on its data-plane connection after the weights (tcp), else as a message.</summary>
    private void SendOrder(Worker w, ComputeShards order)
    {
        if (w.Mailbox is null)
        {
            if (w.Channel is null || !w.OrderFrames) w.Actor.Tell(order);
            else
            {
                var (header, payload) = StepNotices.Order(order);
                _sends.Add(w.Channel.SendAsync(header, payload, CancellationToken.None).AsTask());
            }
        }
        // removed after this dispatch, its shards going back in the queue
        else if (!w.Mailbox.TryPostOrder(order))
            Self.Tell(new MailboxLost(w.Actor, w.Mailbox, w.Mailbox.IsClosed ? "closed its mailbox" : $"left {SharedMailbox.Slots} orders unread"));
    }

    /// <summary>
    /// A thread per shm worker that sleeps until the worker posts a result, copies the shard's gradient out of the worker's
    /// file (so the worker may reuse the region, and the copy overlaps the other workers' compute), and hands both to
    /// this actor as if the worker had sent them.
    /// </summary>
    private void StartMailboxReader(Worker worker)
    {
        var mailbox = worker.Mailbox!;
        var gradients = worker.Gradients!;
        var actor = worker.Actor;
        var self = Self;
        var pool = _pool;
        worker.MailboxReader = new Thread(() =>
        {
            while (!mailbox.IsClosed)
            {
                if (mailbox.TryTakeResult(actor) is not { } result)
                {
                    mailbox.WaitForResult(250);
                    continue;
                }
                float[]? gradient = null;
                if ((uint)result.Shard < (uint)gradients.Regions && result.GradientLength == pool.Length)
                {
                    gradient = pool.Rent();
                    gradients.Region(result.Shard).CopyTo(gradient);
                }
                self.Tell(new MailboxResult(result, gradient), actor);
            }
            // the worker closed it (it is stopping): its shards need not wait for the cluster to notice
            if (!worker.ClosingMailbox) self.Tell(new MailboxLost(actor, mailbox, "closed its mailbox"));
        }) { IsBackground = true, Name = "dnn-shm-results" };
        worker.MailboxReader.Start();
    }

    /// <summary>Ends a worker's mailbox (and so its reader and the worker's mailbox thread), then unmaps and deletes its files.</summary>
    private static void CloseShared(Worker worker)
    {
        worker.ClosingMailbox = true;
        worker.Mailbox?.Close();
        worker.MailboxReader?.Join(); // it may be copying from the gradient file
        worker.MailboxReader = null;
        worker.Mailbox?.Dispose();
        worker.Gradients?.Dispose();
        worker.Mailbox = null;
        worker.Gradients = null;
    }

    /// <summary>Hands queued shards (or evaluation chunks) to ready workers with room, round robin.</summary>
    private void Dispatch()
    {
        var ready = _workers.Values.Where(w => w.Ready && w.Linked && !w.Quarantined).ToList();
        if (ready.Any(w => !w.Suspect)) ready.RemoveAll(w => w.Suspect);
        if (ready.Count == 0) return;
        var orders = new Dictionary<Worker, List<int>>();
        bool progress = true;
        while (_queue.Count > 0 && progress)
        {
            progress = false;
            foreach (var w in ready)
            {
                if (_queue.Count == 0) break;
                if (w.InFlight >= w.Capacity) continue;
                int item = _queue.Dequeue();
                if (_step is not null) _step.Assign(item, w.Actor);
                else _chunkOwner[item] = w.Actor;
                w.InFlight++;
                (orders.TryGetValue(w, out var list) ? list : orders[w] = new List<int>()).Add(item);
                progress = true;
            }
        }
        foreach (var (w, items) in orders)
        {
            SendWeights(w);
            if (_step is not null)
                SendOrder(w, new ComputeShards(_s.Job, _step.Step, _step.Version, _state.Epoch, _state.StepInEpoch, items.ToArray()));
            else
                w.Actor.Tell(new EvaluateChunks(_s.Job, _evalVersion, items.ToArray()));
        }
    }

    /// <param name="gradient">the shard's gradient, when it came with the result (shm mailbox); returned to the pool if unused</param>
    private void OnShardResult(ShardResult r, float[]? gradient)
    {
        // only the sender counts: the Worker field of a message is the worker's word, not proof
        if (!_workers.TryGetValue(Sender, out var worker))
        {
            _pool.Return(gradient);
            _log.Warning("Rejected a shard result from unknown sender {Sender}", Sender.Path);
            return;
        }
        if (_step is null)
        {
            _pool.Return(gradient);
            _log.Warning("Rejected a shard result from {Worker}: no step is running", worker.Name);
            return;
        }
        bool wasComplete = r.Shard >= 0 && r.Shard < _step.ShardCount && _step.IsShardComplete(r.Shard);
        var why = _step.AcceptResult(worker.Actor, r.Job, r.Step, r.Version, r.Shard, new BatchStats(r.LossSum, r.Correct, r.SampleCount), r.ComputeMilliseconds, r.GradientLength, r.Activity);
        if (why is not null)
        {
            _pool.Return(gradient);
            Rejected(worker, r.Shard, r.Step, why);
            return;
        }
        if (_log.IsDebugEnabled) _log.Debug("Shard {Shard} of step {Step} from {Worker} in {Ms:F1} ms", r.Shard, r.Step, worker.Name, r.ComputeMilliseconds);
        if (gradient is not null)
        {
            _shmBytesReceived += (long)gradient.Length * sizeof(float);
            OnGradient(new GradientArrived(worker.Actor, new TensorHeader(r.Job, r.Step, r.Version, TensorKind.ShardGradient, r.Shard, gradient.Length), gradient));
            return;
        }
        if (!wasComplete && _step.IsShardComplete(r.Shard)) ShardDone(worker);
    }

    private void OnGradient(GradientArrived g)
    {
        if (!_workers.TryGetValue(g.Worker, out var worker) || _step is null)
        {
            _pool.Return(g.Buffer);
            return;
        }
        var h = g.Header;
        bool wasComplete = h.Shard >= 0 && h.Shard < _step.ShardCount && _step.IsShardComplete(h.Shard);
        var why = _step.AcceptGradient(worker.Actor, h.Job, h.Step, h.Version, h.Shard, g.Buffer);
        if (why is not null)
        {
            Rejected(worker, h.Shard, h.Step, why);
            return;
        }
        if (!wasComplete && _step.IsShardComplete(h.Shard)) ShardDone(worker);
    }

    /// <summary>A piece of a shard gradient over Akka.Remote (the fallback transport).</summary>
    private void OnChunk(TensorChunk chunk)
    {
        var h = chunk.Header;
        if (!_workers.ContainsKey(Sender) || _step is null || h.Kind != TensorKind.ShardGradient || h.Job != _s.Job
            || h.Step != _step.Step || h.Count != _pool.Length || (uint)h.Shard >= (uint)_step.ShardCount)
        {
            _log.Warning("Rejected a tensor chunk from {Sender} ({Header})", Sender.Path, h);
            return;
        }
        var key = (Sender, h.Step, h.Shard);
        if (!_assemblers.TryGetValue(key, out var assembler) || assembler.Header != h)
        {
            if (assembler is not null && System.Runtime.InteropServices.MemoryMarshal.TryGetArray<float>(assembler.Destination, out var old)) _pool.Return(old.Array);
            _assemblers[key] = assembler = new TensorAssembler(h, _pool.Rent());
        }
        if (!assembler.TryAdd(chunk, out var why))
        {
            _log.Warning("Rejected a tensor chunk from {Sender}: {Reason}", Sender.Path, why);
            return;
        }
        _akkaBytesReceived += (long)chunk.Values.Length * sizeof(float);
        if (!assembler.IsComplete) return;
        _assemblers.Remove(key);
        System.Runtime.InteropServices.MemoryMarshal.TryGetArray<float>(assembler.Destination, out var buffer);
        OnGradient(new GradientArrived(Sender, h, buffer.Array!));
    }

    private void ReleaseAssemblers()
    {
        foreach (var a in _assemblers.Values)
            if (System.Runtime.InteropServices.MemoryMarshal.TryGetArray<float>(a.Destination, out var b)) _pool.Return(b.Array);
        _assemblers.Clear();
    }

    /// <summary>
    /// A rejected result: logged with the worker's address; results for another step or version are just late,
    /// anything else counts against the worker (quarantine). NaN/∞ for a shard is redone by another worker;
    /// when two workers (or one, twice, if it is alone) agree, the model itself has diverged.
    /// </summary>
    private void Rejected(Worker worker, int shard, long step, Rejection why)
    {
        _log.Warning("Rejected a result from {Worker}: {Reason}", worker.Name, why.Reason);
        var current = _step!;
        // late (another step or version) or overtaken (the shard went to another worker after a deadline): not bad
        if (why.Kind is RejectionKind.Stale or RejectionKind.Overtaken) return;
        if (why.Kind == RejectionKind.NonFinite)
        {
            var (reporters, reports) = current.NonFinite(shard);
            int ready = _workers.Values.Count(w => w.Ready && !w.Quarantined);
            if (reporters.Count >= 2 || (ready <= 1 && reports >= 2))
            {
                Fail(new TrainingDivergedException($"training diverged at epoch {_state.Epoch + 1}, step {_state.StepInEpoch + 1}: shard {shard} gives a NaN or infinite loss/gradient on {reporters.Count} worker(s) (learning rate too high?)"));
                return;
            }
            if (Equals(current.AssignedTo(shard), worker.Actor) && !current.IsShardComplete(shard))
            {
                // redo it elsewhere if there is an elsewhere
                current.Reset(shard);
                worker.InFlight = System.Math.Max(0, worker.InFlight - 1);
                var other = _workers.Values.Where(w => w.Ready && w.Linked && !w.Quarantined && !reporters.Contains(w.Actor)).MinBy(w => w.InFlight) ?? worker;
                current.Assign(shard, other.Actor);
                other.InFlight++;
                SendWeights(other);
                SendOrder(other, new ComputeShards(_s.Job, current.Step, current.Version, _state.Epoch, _state.StepInEpoch, [shard]));
            }
        }
        if (++worker.BadResults >= QuarantineAfter && !worker.Quarantined)
        {
            worker.Quarantined = true;
            _log.Error("Worker {Worker} quarantined after {Count} bad results: it gets no more shards", worker.Name, worker.BadResults);
            foreach (int s in current.Outstanding(worker.Actor).ToList())
            {
                current.Reset(s);
                _queue.Enqueue(s);
            }
            worker.InFlight = 0;
            if (!AnyHealthyWorker)
            {
                _log.Error("No healthy workers left; waiting up to {Wait} s for one to join", _s.WaitForWorkers.TotalSeconds);
                Timers.StartSingleTimer("no-workers", NoWorkersDeadline.Instance, _s.WaitForWorkers);
            }
            Dispatch();
        }
    }

    private void ShardDone(Worker worker)
    {
        worker.Suspect = false;
        worker.InFlight = System.Math.Max(0, worker.InFlight - 1);
        if (_step!.IsComplete) CompleteStep();
        else Dispatch();
    }

    private void CompleteStep()
    {
        var step = _step!;
        // the optimizer rewrites the weights in place: every weight transfer of this version must be out first
        _sends.RemoveAll(t => t.IsCompleted);
        if (_sends.Count > 0)
        {
            Task.WhenAll(_sends).ContinueWith(_ => new SendsFlushed(step.Step)).PipeTo(Self);
            _sends.Clear();
            return;
        }
        Timers.Cancel("deadline");
        ReleaseAssemblers();
        var stats = step.Sum(_gradient);
        bool activityKnown = step.SumActivity(_activity);
        foreach (var (actor, ms) in step.ShardTimes())
            _workerStats.Add(_workers.TryGetValue(actor, out var w) ? w.Name : actor.Path.ToString(), ms);
        if (_log.IsDebugEnabled)
            _log.Debug("Step {Step} done; compute ms per worker: {Times}", step.Step, string.Join(", ", step.ComputeTimes().Select(t => $"{t.Key.Path}={t.Value:F1}")));
        step.Release();
        _step = null;
        bool epochEnded;
        try { epochEnded = _state.ApplyStep(_gradient, stats, activityKnown ? _activity : default); }
        catch (TrainingDivergedException e)
        {
            Fail(e);
            return;
        }
        _s.OnStep?.Invoke(_state, _workers.Values.Count(w => w.Ready && !w.Quarantined));
        if (epochEnded) StartEvaluation();
        else
        {
            SaveCheckpoint(epochEnded: false);
            StartStep();
        }
    }

    private void OnDeadline(StepDeadline d)
    {
        if (_step is null || d.Step != _step.Step) return;
        if (!AnyHealthyWorker)
        {
            // nobody to blame and nobody to hand shards to: the wait for workers decides, not this deadline
            Timers.StartSingleTimer("deadline", new StepDeadline(_step.Step), _s.StepTimeout);
            return;
        }
        int completed = Enumerable.Range(0, _step.ShardCount).Count(_step.IsShardComplete);
        _stalledDeadlines = completed == _completedAtLastDeadline ? _stalledDeadlines + 1 : 0;
        _completedAtLastDeadline = completed;
        if (_stalledDeadlines >= MaxStalledDeadlines)
        {
            Fail(new UserErrorException($"step {_step.Step + 1} made no progress in {MaxStalledDeadlines} × {_s.StepTimeout.TotalSeconds:F0} s: " +
                "shard results are not arriving (lost tensor transfers? with --transport akka, a message over akka.remote's maximum-frame-size is dropped)"));
            return;
        }
        var late = Enumerable.Range(0, _step.ShardCount).Where(s => !_step.IsShardComplete(s) && _step.AssignedTo(s) is not null).ToList();
        foreach (int shard in late)
        {
            var owner = _step.AssignedTo(shard)!;
            _log.Warning("Shard {Shard} of step {Step} from {Worker} is late (nothing within {Timeout}); handing it out again", shard, _step.Step, owner.Path, _s.StepTimeout);
            if (_workers.TryGetValue(owner, out var w))
            {
                w.InFlight = System.Math.Max(0, w.InFlight - 1);
                w.Suspect = true;
            }
            _step.Reset(shard);
            _queue.Enqueue(shard);
        }
        Timers.StartSingleTimer("deadline", new StepDeadline(_step.Step), _s.StepTimeout);
        Dispatch();
    }

    // ---- evaluation ----

    private void StartEvaluation()
    {
        int chunks = LocalTrainer.EvaluationChunks(_s.TestCount);
        _chunkResults = new BatchStats?[chunks];
        _chunkOwner = new IActorRef?[chunks];
        _evalVersion = _state.Version;
        _queue.Clear();
        for (int c = 0; c < chunks; c++) _queue.Enqueue(c);
        foreach (var w in _workers.Values) w.InFlight = 0;
        if (chunks == 0) FinishEpoch();
        else
        {
            Timers.StartSingleTimer("deadline", new EvaluationDeadline(_evalVersion), _s.StepTimeout);
            Dispatch();
        }
    }

    /// <summary>The step deadline's rule for evaluation chunks: late ones are handed out again, their holders suspected.</summary>
    private void OnEvaluationDeadline(EvaluationDeadline d)
    {
        if (d.Version != _evalVersion || _chunkResults.Length == 0) return;
        for (int c = 0; c < _chunkResults.Length; c++)
        {
            if (_chunkResults[c] is not null || _chunkOwner[c] is not { } owner) continue;
            _log.Warning("Evaluation chunk {Chunk} from {Worker} is late (nothing within {Timeout}); handing it out again", c, owner.Path, _s.StepTimeout);
            if (_workers.TryGetValue(owner, out var w))
            {
                w.InFlight = System.Math.Max(0, w.InFlight - 1);
                w.Suspect = true;
            }
            _chunkOwner[c] = null;
            _queue.Enqueue(c);
        }
        Timers.StartSingleTimer("deadline", new EvaluationDeadline(_evalVersion), _s.StepTimeout);
        Dispatch();
    }

    private void OnEvaluationResult(EvaluationResult r)
    {
        if (!_workers.TryGetValue(Sender, out var worker))
        {
            _log.Warning("Rejected an evaluation result from unknown sender {Sender}", Sender.Path);
            return;
        }
        if (r.Job != _s.Job || r.Version != _evalVersion || (uint)r.Chunk >= (uint)_chunkResults.Length
            || !Equals(_chunkOwner[r.Chunk], worker.Actor) || _chunkResults[r.Chunk] is not null)
        {
            _log.Warning("Rejected an evaluation result from {Worker} (chunk {Chunk}, version {Version})", worker.Name, r.Chunk, r.Version);
            return;
        }
        int expected = System.Math.Min(LocalTrainer.EvaluationChunk, _s.TestCount - r.Chunk * LocalTrainer.EvaluationChunk);
        if (r.SampleCount != expected || !double.IsFinite(r.LossSum))
        {
            _log.Warning("Rejected an evaluation result from {Worker}: chunk {Chunk} counts {Count} samples (expected {Expected}), loss {Loss}", worker.Name, r.Chunk, r.SampleCount, expected, r.LossSum);
            return;
        }
        _chunkResults[r.Chunk] = new BatchStats(r.LossSum, r.Correct, r.SampleCount);
        worker.InFlight = System.Math.Max(0, worker.InFlight - 1);
        worker.Suspect = false;
        if (_chunkResults.All(c => c is not null)) FinishEpoch();
        else Dispatch();
    }

    private void FinishEpoch()
    {
        Timers.Cancel("deadline");
        var test = new BatchStats(0, 0, 0);
        foreach (var c in _chunkResults) test += c!.Value; // chunk order, as the single-process evaluation
        _chunkResults = [];
        _chunkOwner = [];
        var result = _state.FinishEpoch(test);
        _epochs.Add(result);
        foreach (var w in _workerStats.EndEpoch(result.Epoch))
        {
            _log.Info("Epoch {Epoch}: worker {Worker} computed {Shards} shards, {Ms:F2} ms per shard (max {Max:F2})", w.Epoch, w.Worker, w.Shards, w.MeanMs, w.MaxMs);
            if (w.Slow)
                _log.Warning("Worker {Worker} is slow: {Ms:F2} ms per shard in epoch {Epoch}, over {Factor}× the other workers' median; the step waits for it (check that machine's load)",
                    w.Worker, w.MeanMs, w.Epoch, WorkerStatsTracker.SlowFactor);
        }
        _s.OnEpoch?.Invoke(result);
        SaveCheckpoint(epochEnded: true);
        if (_state.Finished) Finish();
        else StartStep();
    }

    private void Finish()
    {
        foreach (var w in _workers.Values) w.Actor.Tell(new JobDone(_s.Job, "finished"));
        long sent = _retiredBytesSent + _akkaBytesSent + _shmBytesSent + _workers.Values.Sum(w => w.Channel?.BytesSent ?? 0);
        long received = _retiredBytesReceived + _akkaBytesReceived + _shmBytesReceived + _workers.Values.Sum(w => w.Channel?.BytesReceived ?? 0);
        _s.Completion.TrySetResult(new TrainingOutcome(_epochs, _state.Steps, _state.WeightsSha256(), _maxWorkers, sent, received, _workerStats.All));
        Become(() => Receive<object>(_ => { }));
    }

    private void SaveCheckpoint(bool epochEnded)
    {
        if (_s.Checkpoints is null) return;
        try { _s.Checkpoints.AfterStep(_state, _epochs, epochEnded); }
        catch (UserErrorException e) { _log.Error("Cannot write a checkpoint: {Reason}", e.Message); }
    }

    private void Fail(Exception e)
    {
        Timers.CancelAll();
        // everything up to the last applied step is kept (a diverged step was never applied)
        if (_s.Checkpoints is not null && _state.Steps > 0)
        {
            try { _log.Warning("Saved checkpoint {Path}", _s.Checkpoints.Save(_state, _epochs)); }
            catch (UserErrorException ce) { _log.Error("Cannot write a checkpoint: {Reason}", ce.Message); }
        }
        foreach (var w in _workers.Values) w.Actor.Tell(new JobDone(_s.Job, "stopped: " + e.Message));
        _s.Completion.TrySetException(e);
        Become(() => Receive<object>(_ => { }));
    }

    protected override void PostStop()
    {
        foreach (var w in _workers.Values)
        {
            w.Channel?.DisposeAsync();
            CloseShared(w); // and deleted: shared-memory files end with the job
        }
        _sharedWeights?.Dispose();
        _s.Completion.TrySetException(new UserErrorException("the coordinator stopped before training finished"));
    }
}
