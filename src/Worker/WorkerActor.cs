using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using Akka.Actor;
using Akka.Cluster;
using Akka.Event;
using DistributedNN.Hosting;
using DistributedNN.Logging;
using DistributedNN.Data;
using DistributedNN.Model;
using DistributedNN.Protocol;
using DistributedNN.Training;
using DistributedNN.Transport;

namespace DistributedNN.Worker;

/// <summary>
/// A worker: registers with the coordinator (given, or found as the cluster member with the
/// coordinator role), accepts the coordinator's data-plane connection, loads the job's data, and
/// computes shard gradients and evaluation chunks with the weights the data plane delivers.
/// Stateless between steps apart from the data and the latest weights.
/// </summary>
public sealed class WorkerActor : ReceiveActor, IWithStash, IWithTimers
{
    /// <param name="DataHost">address the data-plane listener binds to</param>
    /// <param name="AdvertisedHost">the name the coordinator connects to (default: <paramref name="DataHost"/>)</param>
    public sealed record Settings(string DataHost, int DataPort, int Cores, string? DataPathOverride = null, IActorRef? Coordinator = null,
        Action<string>? OnJobDone = null, string? AdvertisedHost = null, Security.ClusterTls? Tls = null);

    private sealed record ChannelAccepted(TensorChannel Channel);
    private sealed record WeightsArrived(long Version, float[] Buffer);
    /// <summary>An order that came on the data plane: its results go back the same way.</summary>
    private sealed record FrameOrder(ComputeShards Order);
    private sealed record ChannelClosed(TensorChannel Channel, string Reason);
    private sealed record ListenerProblem(string Message);
    private sealed class RetryRegistration { public static readonly RetryRegistration Instance = new(); }
    private sealed record CoordinatorFound(IActorRef Coordinator);
    private sealed record CoordinatorNotFound(Member Member, string Reason);
    /// <summary>What the data-plane receive thread needs to know of the job; replaced whole, read without locks.</summary>
    private sealed record FrameFilter(Guid Job, int ParameterCount, TensorKind WeightsKind, int Shards);

    private readonly Settings _settings;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly ConcurrentBag<float[]> _weightBuffers = new();
    /// <summary>The credentials the data-plane listener requires; only the coordinator we register with learns them.</summary>
    private readonly byte[] _accessToken = TensorHandshake.NewToken();
    private TensorListener? _listener;
    private TensorChannel? _channel;
    private IActorRef? _coordinator;
    private StartJob? _job;
    /// <summary>One per core this worker may use: the shards of an order are computed in parallel.</summary>
    private ShardComputer[] _computers = [];
    private float[][] _gradients = [];
    private float[]? _weights;
    private long _weightsVersion = -1;
    private volatile FrameFilter? _filter;
    private bool _subscribed;
    private bool _jobDone;
    private TensorAssembler? _weightsAssembler;
    /// <summary>Per lane: the last computed shard's figures.</summary>
    private BatchStats[] _stats = [];
    private double[] _ms = [];
    /// <summary>shm transport: the coordinator's weights, this worker's gradient file, its mailbox and the thread serving it.</summary>
    private SharedTensorFile? _sharedWeights, _sharedGradients;
    private SharedMailbox? _mailbox;
    private Thread? _mailboxThread;
    /// <summary>Shards (mailbox thread) and evaluation chunks (this actor) share the computers: one at a time.</summary>
    private readonly Lock _computeGate = new();

    /// <summary>
    /// Local: the node is stopping. The worker tells its coordinator it is leaving (unless its job is done) and stops, which
    /// closes its data plane and mailbox: its shards go to the other workers at once.
    /// </summary>
    public sealed class Leave
    {
        public static readonly Leave Instance = new();
        private Leave() { }
    }

    public IStash Stash { get; set; } = null!;
    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(Settings settings) => Akka.Actor.Props.Create(() => new WorkerActor(settings));

    public WorkerActor(Settings settings)
    {
        _settings = settings;
        _coordinator = settings.Coordinator;

        Receive<ClusterEvent.CurrentClusterState>(state =>
        {
            foreach (var m in state.Members) OnMember(m);
        });
        Receive<ClusterEvent.MemberUp>(up => OnMember(up.Member));
        Receive<RetryRegistration>(_ => Register());
        Receive<CoordinatorFound>(found =>
        {
            _coordinator ??= found.Coordinator;
            Register();
        });
        Receive<CoordinatorNotFound>(missing =>
        {
            _log.Warning("Found the coordinator node {Address} but not its coordinator actor ({Reason}); retrying", missing.Member.Address, missing.Reason);
            Timers.StartSingleTimer("rediscover", new ClusterEvent.MemberUp(missing.Member), TimeSpan.FromSeconds(1));
        });
        Receive<ChannelAccepted>(OnChannelAccepted);
        Receive<ListenerProblem>(p => _log.Warning("Data plane: {Problem}", p.Message));
        Receive<ChannelClosed>(c =>
        {
            if (ReferenceEquals(c.Channel, _channel) && !_jobDone) _log.Warning("Data-plane connection from the coordinator closed: {Reason}", c.Reason);
        });
        Receive<WeightsArrived>(OnWeights);
        Receive<TensorChunk>(OnWeightsChunk);
        Receive<StartJob>(OnStartJob);
        Receive<RegistrationRejected>(r =>
        {
            _log.Error("The coordinator refused this worker: {Reason}", r.Reason);
            _settings.OnJobDone?.Invoke($"refused: {r.Reason}");
        });
        ReceiveAsync<ComputeShards>(order => OnComputeShards(order, byFrame: false));
        ReceiveAsync<FrameOrder>(f => OnComputeShards(f.Order, byFrame: true));
        Receive<EvaluateChunks>(OnEvaluate);
        Receive<Leave>(_ =>
        {
            if (_coordinator is not null && _job is not null && !_jobDone)
            {
                _log.Info("Leaving job {Job}", _job.Job);
                _coordinator.Tell(new WorkerLeaving(_job.Job, Self));
            }
            Context.Stop(Self);
        });
        Receive<JobDone>(done =>
        {
            if (_job is null || done.Job != _job.Job) return;
            _jobDone = true;
            _log.Info("Job {Job} is done ({Outcome})", done.Job, done.Outcome);
            _settings.OnJobDone?.Invoke(done.Outcome);
        });
    }

    protected override void PreStart()
    {
        var self = Self;
        _listener = new TensorListener(IPAddress.Parse(_settings.DataHost), _settings.DataPort, channel =>
        {
            self.Tell(new ChannelAccepted(channel));
            return Task.CompletedTask;
        }, TensorChannelOptions.Default with { Tls = _settings.Tls, AccessToken = _accessToken }, e => self.Tell(new ListenerProblem(e.Message)));
        if (_coordinator is null)
        {
            Akka.Cluster.Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.InitialStateAsSnapshot, typeof(ClusterEvent.MemberUp));
            _subscribed = true;
        }
        else Register();
    }

    protected override void PostStop()
    {
        if (_subscribed) Akka.Cluster.Cluster.Get(Context.System).Unsubscribe(Self);
        _channel?.DisposeAsync().AsTask().Wait(TimeSpan.FromSeconds(5));
        _listener?.DisposeAsync().AsTask().Wait(TimeSpan.FromSeconds(5));
        CloseSharedFiles();
    }

    private void OnMember(Member member)
    {
        if (_coordinator is not null || member.Status != MemberStatus.Up || !member.HasRole(DnnAkka.CoordinatorRole)) return;
        Context.ActorSelection(new RootActorPath(member.Address) / "user" / DnnAkka.CoordinatorName)
            .ResolveOne(TimeSpan.FromSeconds(10))
            .PipeTo(Self, success: r => new CoordinatorFound(r), failure: e => new CoordinatorNotFound(member, e.Message));
    }

    private void Register()
    {
        if (_coordinator is null || _job is not null) return;
        var endpoint = (IPEndPoint)_listener!.LocalEndPoint;
        _coordinator.Tell(new RegisterWorker(Self, _settings.AdvertisedHost ?? _settings.DataHost, endpoint.Port, _settings.Cores, _accessToken, OrderFrames: true));
        // until a StartJob arrives: the coordinator may not be listening yet
        Timers.StartSingleTimer("register", RetryRegistration.Instance, TimeSpan.FromSeconds(2));
    }

    private void OnChannelAccepted(ChannelAccepted accepted)
    {
        var old = _channel;
        _channel = accepted.Channel;
        old?.DisposeAsync();
        var self = Self;
        var sink = new WeightsSink(this, self);
        var channel = accepted.Channel;
        _ = Task.Run(async () =>
        {
            string reason = "closed by the peer";
            try { await channel.ReceiveLoopAsync(sink, CancellationToken.None); }
            catch (Exception e) { reason = e.Message; }
            self.Tell(new ChannelClosed(channel, reason));
        });
    }

    /// <summary>Receives weight frames straight into a spare buffer, and orders (on the channel's receive thread).</summary>
    private sealed class WeightsSink(WorkerActor worker, IActorRef self) : ITensorSink
    {
        public bool TryGetDestination(in TensorHeader header, out Memory<float> destination)
        {
            destination = default;
            var filter = worker._filter;
            if (filter is null || header.Job != filter.Job) return false;
            if (header.Kind == TensorKind.Order)
            {
                if (header.Count <= StepNotices.OrderCount(0) || header.Count > StepNotices.OrderCount(filter.Shards)) return false;
                destination = new float[header.Count];
                return true;
            }
            if (header.Kind != filter.WeightsKind || header.Count != filter.ParameterCount) return false;
            destination = worker._weightBuffers.TryTake(out var b) ? b : new float[filter.ParameterCount];
            return true;
        }

        public void Received(in TensorHeader header, Memory<float> payload)
        {
            if (header.Kind == TensorKind.Order)
            {
                if (StepNotices.ReadOrder(header, payload.Span) is { } order) self.Tell(new FrameOrder(order));
                return;
            }
            if (System.Runtime.InteropServices.MemoryMarshal.TryGetArray<float>(payload, out var segment) && segment.Array is { } array)
                self.Tell(new WeightsArrived(header.Version, array));
        }
    }

    private void OnWeights(WeightsArrived w)
    {
        if (w.Version < _weightsVersion)
        {
            _weightBuffers.Add(w.Buffer);
            return;
        }
        if (_weights is not null) _weightBuffers.Add(_weights);
        _weights = w.Buffer;
        _weightsVersion = w.Version;
        Stash.UnstashAll();
    }

    /// <summary>Weights over Akka.Remote (the fallback transport), chunk by chunk.</summary>
    private void OnWeightsChunk(TensorChunk chunk)
    {
        var h = chunk.Header;
        var filter = _filter;
        if (filter is null || h.Kind != TensorKind.Weights || h.Job != filter.Job || h.Count != filter.ParameterCount || h.Version <= _weightsVersion)
            return;
        if (_weightsAssembler is null || _weightsAssembler.Header != h)
        {
            var buffer = _weightBuffers.TryTake(out var b) ? b : new float[filter.ParameterCount];
            _weightsAssembler = new TensorAssembler(h, buffer);
        }
        if (!_weightsAssembler.TryAdd(chunk, out var why))
        {
            _log.Warning("Rejected a weights chunk: {Reason}", why);
            return;
        }
        if (!_weightsAssembler.IsComplete) return;
        System.Runtime.InteropServices.MemoryMarshal.TryGetArray<float>(_weightsAssembler.Destination, out var done);
        _weightsAssembler = null;
        OnWeights(new WeightsArrived(h.Version, done.Array!));
    }

    private void OnStartJob(StartJob job)
    {
        Timers.Cancel("register");
        if (_job?.Job == job.Job) return; // a repeated StartJob (our registration was retried)
        CloseSharedFiles(); // a previous job's mailbox thread must be done with the computers before they are replaced
        try
        {
            var spec = job.Network.ToSpec();
            var data = DataCache.Load(job.Data, _settings.DataPathOverride);
            int lanes = System.Math.Clamp(_settings.Cores, 1, job.Shards);
            _computers = Enumerable.Range(0, lanes).Select(_ => new ShardComputer(spec, data.Train, data.Data.Test, job.BatchSize, job.Shards, job.Seed, job.Shuffle)).ToArray();
            _gradients = Enumerable.Range(0, lanes).Select(_ => GC.AllocateUninitializedArray<float>(spec.ParameterCount, pinned: true)).ToArray();
            _stats = new BatchStats[lanes];
            _ms = new double[lanes];
            _filter = new FrameFilter(job.Job, spec.ParameterCount, GradientFormats.WeightsKind(job.WeightFormat), job.Shards);
            OpenSharedFiles(job, spec);
            _weights = null;
            _weightsVersion = -1;
            _job = job;
            if (_mailbox is { } mailbox)
            {
                _mailboxThread = new Thread(() => ServeMailbox(mailbox, job.Job)) { IsBackground = true, Name = "dnn-shm-orders" };
                _mailboxThread.Start();
            }
            _log.Info("Ready for job {Job}: {Network}, {Train} training samples, data fingerprint {Fingerprint}", job.Job, spec.Describe(), data.Train.Count, data.Fingerprint[..12]);
            Sender.Tell(new WorkerReady(job.Job, Self, data.Fingerprint, data.Train.Count, data.Data.Test.Count));
        }
        catch (UserErrorException e)
        {
            _log.Error("Cannot take job {Job}: {Reason}", job.Job, e.Message);
            Sender.Tell(new WorkerRefused(job.Job, Self, e.Message));
        }
    }

    private void OpenSharedFiles(StartJob job, NetworkSpec spec)
    {
        if (job.Transport != Transports.Shm) return;
        if (job.SharedWeights is null || job.SharedGradients is null || job.SharedMailbox is null)
            throw new UserErrorException("the shm transport needs the shared-memory file names");
        try
        {
            _sharedWeights = SharedTensorFile.Open(job.SharedWeights, 1, spec.ParameterCount);
            _sharedGradients = SharedTensorFile.Open(job.SharedGradients, job.Shards, spec.ParameterCount);
            _mailbox = SharedMailbox.Open(job.SharedMailbox, job.Shards, spec.Layers.Count);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            CloseSharedFiles();
            throw new UserErrorException($"--transport shm needs the workers on the coordinator's machine (as the same user): {e.Message}");
        }
    }

    /// <summary>Ends the mailbox thread (closing the mailbox for both sides), then unmaps the files it used.</summary>
    private void CloseSharedFiles()
    {
        _mailbox?.Close();
        _mailboxThread?.Join(); // it finishes the shard in hand: the files must outlive it
        _mailboxThread = null;
        _mailbox?.Dispose();
        _sharedWeights?.Dispose();
        _sharedGradients?.Dispose();
        _mailbox = null;
        _sharedWeights = _sharedGradients = null;
    }

    /// <summary>
    /// The shm transport's step loop, on its own thread: sleeps until the coordinator posts an order, computes its shards
    /// from the weights file into the gradient file, and posts each shard's result — no actor, message or socket between.
    /// </summary>
    private void ServeMailbox(SharedMailbox mailbox, Guid job)
    {
        while (!mailbox.IsClosed)
        {
            if (mailbox.TryTakeOrder() is not { } order)
            {
                mailbox.WaitForOrder(250);
                continue;
            }
            if (order.Job != job) continue;
            try
            {
                lock (_computeGate) ComputeFromMailbox(order, mailbox);
            }
            catch (Exception e)
            {
                // what would restart the actor on the message path: this order gets no results (its deadline hands it out again); the thread goes on
                _log.Error(e, "Cannot compute the order for step {Step} (shards {Shards})", order.Step, string.Join(",", order.Shards));
            }
        }
    }

    private void ComputeFromMailbox(ComputeShards order, SharedMailbox mailbox)
    {
        var shared = _sharedWeights!;
        // weights rewritten since the order was posted, or while we computed: the order is stale (its shards went to others)
        if (shared.Version != order.Version) return;
        var weights = shared.RegionMemory(0);
        int lanes = _computers.Length;
        for (int first = 0; first < order.Shards.Length; first += lanes)
        {
            int n = System.Math.Min(lanes, order.Shards.Length - first);
            ComputeLanes(order, first, n, weights);
            if (shared.Version != order.Version) return;
            Interlocked.MemoryBarrier(); // the gradients are in the file before the results say so
            for (int lane = 0; lane < n; lane++)
            {
                var s = _stats[lane];
                while (!mailbox.TryPostResult(order.Job, order.Step, order.Version, order.Shards[first + lane], s.LossSum, s.Correct, s.Count, _ms[lane],
                           shared.Length, _computers[lane].Activity))
                {
                    if (mailbox.IsClosed) return;
                    Thread.Sleep(1); // the coordinator has not taken 64 results yet
                }
            }
        }
    }

    /// <summary>Shards <paramref name="first"/>.. of an order, one per lane (in parallel for several), into <see cref="_stats"/> and <see cref="_ms"/>.</summary>
    private void ComputeLanes(ComputeShards order, int first, int n, ReadOnlyMemory<float> weights)
    {
        void Compute(int lane)
        {
            long start = Stopwatch.GetTimestamp();
            int shard = order.Shards[first + lane];
            // shm: straight into this shard's region of our file, which the coordinator copies out when told
            var destination = _sharedGradients is { } shared ? shared.Region(shard) : _gradients[lane];
            _stats[lane] = _computers[lane].ComputeShard(weights.Span, order.Epoch, order.StepInEpoch, shard, destination, order.Version);
            _ms[lane] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }
        if (n == 1) Compute(0);
        else Parallel.For(0, n, new ParallelOptions { MaxDegreeOfParallelism = n }, Compute);
    }

    /// <summary>
    /// The weights of <paramref name="version"/>: over shm, read in place from the coordinator's file (null when it holds
    /// another version: the order is stale); otherwise the copy received, once it is here.
    /// </summary>
    private ReadOnlyMemory<float>? WeightsOf(long version)
    {
        if (_sharedWeights is { } shared) return shared.Version == version ? shared.RegionMemory(0) : null;
        if (_weightsVersion != version || _weights is null) return null; // (a null array would convert to empty memory, not to null)
        return _weights;
    }

    /// <summary>
    /// An order on the data plane (<paramref name="byFrame"/>: the result goes back as a frame on it) or as a message (the
    /// result as a message); the gradient goes on the data plane, or as chunks with the akka transport.
    /// </summary>
    private async Task OnComputeShards(ComputeShards order, bool byFrame)
    {
        if (_job is null || order.Job != _job.Job || _computers.Length == 0 || _mailbox is not null) return;
        if (WeightsOf(order.Version) is not { } weights)
        {
            if (order.Version > _weightsVersion) Stash.Stash(); // the weights are on their way
            return;
        }
        var coordinator = Sender;
        int lanes = _computers.Length;
        for (int first = 0; first < order.Shards.Length; first += lanes)
        {
            int n = System.Math.Min(lanes, order.Shards.Length - first);
            ComputeLanes(order, first, n, weights);
            for (int lane = 0; lane < n; lane++)
            {
                int shard = order.Shards[first + lane];
                var header = new TensorHeader(order.Job, order.Step, order.Version, GradientFormats.Kind(_job!.GradientFormat), shard, _gradients[lane].Length);
                var s = _stats[lane];
                if (!byFrame)
                    coordinator.Tell(new ShardResult(order.Job, order.Step, order.Version, shard, Self, s.LossSum, s.Correct, s.Count, _ms[lane], header.Count,
                        _computers[lane].Activity.ToArray()));
                else
                {
                    var (resultHeader, result) = StepNotices.Result(order.Job, order.Step, order.Version, shard, s.LossSum, _ms[lane], s.Correct, s.Count,
                        header.Count, _computers[lane].Activity);
                    if (!await SendFrame(resultHeader, result, coordinator)) return;
                }
                if (!await SendFrame(header, _gradients[lane], coordinator)) return;
            }
        }
    }

    /// <summary>A gradient (or, tcp, a result) to the coordinator: a frame on the data plane, or Akka chunks.</summary>
    private async Task<bool> SendFrame(TensorHeader header, float[] gradient, IActorRef coordinator)
    {
        if (_job!.Transport == Transports.Akka)
        {
            foreach (var chunk in TensorChunker.Split(header, gradient, TensorChunker.SmallObjectChunkFloats)) coordinator.Tell(chunk);
            return true;
        }
        if (_channel is null)
        {
            _log.Warning("No data-plane connection from the coordinator: cannot send shard {Shard} of step {Step}", header.Shard, header.Step);
            return false;
        }
        try
        {
            await _channel.SendAsync(header, gradient, CancellationToken.None);
            return true;
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or System.Net.Sockets.SocketException)
        {
            _log.Warning("Could not send the {Kind} of shard {Shard} of step {Step}: {Reason}", header.Kind, header.Shard, header.Step, e.Message);
            return false;
        }
    }

    private void OnEvaluate(EvaluateChunks order)
    {
        if (_job is null || order.Job != _job.Job || _computers.Length == 0) return;
        if (WeightsOf(order.Version) is not { } weights)
        {
            if (_sharedWeights is null && order.Version > _weightsVersion) Stash.Stash();
            return;
        }
        foreach (int chunk in order.Chunks)
        {
            BatchStats stats;
            lock (_computeGate) stats = _computers[0].EvaluateChunk(weights.Span, chunk, order.Version);
            Sender.Tell(new EvaluationResult(order.Job, order.Version, chunk, Self, stats.LossSum, stats.Correct, stats.Count));
        }
    }
}
