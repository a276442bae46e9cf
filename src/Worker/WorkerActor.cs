using System.Net;
using Akka.Actor;
using Akka.Cluster;
using Akka.Event;
using DistributedNN.Data;
using DistributedNN.Hosting;
using DistributedNN.Model;
using DistributedNN.Protocol;
using DistributedNN.Training;
using DistributedNN.Transport;

namespace DistributedNN.Worker;

/// <summary>
/// A worker: registers with the coordinator (given, or found as the cluster member with the coordinator role) with its
/// data-plane endpoint, and for a job loads the data, opens its end of the job's link (<see cref="WorkerLinks"/>) and
/// starts an <see cref="OrderLoop"/> that computes whatever the link brings. The actor itself only handles the control
/// plane: registration, the job's start and end, leaving. Stateless between jobs apart from its data cache.
/// </summary>
public sealed class WorkerActor : ReceiveActor, IWithTimers
{
    /// <param name="DataHost">address the data-plane listener binds to</param>
    /// <param name="AdvertisedHost">the name the coordinator connects to (default: <paramref name="DataHost"/>)</param>
    public sealed record Settings(string DataHost, int DataPort, int Cores, string? DataPathOverride = null, IActorRef? Coordinator = null,
        Action<string>? OnJobDone = null, string? AdvertisedHost = null, Security.ClusterTls? Tls = null)
    {
        /// <summary>Tests only: changes each computed shard gradient before it is sent (a lying worker). Internal: nothing outside the tests can set it.</summary>
        internal ShardTamper? Tamper { get; init; }
    }

    private sealed record LinkProblem(string Message);
    private sealed class RetryRegistration { public static readonly RetryRegistration Instance = new(); }
    private sealed record CoordinatorFound(IActorRef Coordinator);
    private sealed record CoordinatorNotFound(Member Member, string Reason);

    /// <summary>
    /// Local: the node is stopping. The worker tells its coordinator it is leaving (unless its job is done) and stops, which
    /// closes its link: its shards go to the other workers at once.
    /// </summary>
    public sealed class Leave
    {
        public static readonly Leave Instance = new();
        private Leave() { }
    }

    private readonly Settings _settings;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly IgnoredMessages _ignored;
    private DataPlaneEndpoint? _endpoint;
    private IActorRef? _coordinator;
    private StartJob? _job;
    private ICoordinatorLink? _link;
    private OrderLoop? _loop;
    private bool _subscribed, _jobDone;

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(Settings settings) => Akka.Actor.Props.Create(() => new WorkerActor(settings));

    public WorkerActor(Settings settings)
    {
        _settings = settings;
        _coordinator = settings.Coordinator;
        _ignored = new IgnoredMessages(_log, "not this worker's coordinator");
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
        Receive<LinkProblem>(p => { if (!_jobDone) _log.Warning("Link to the coordinator: {Problem}", p.Message); });
        Receive<StartJob>(OnStartJob, _ => FromCoordinator);
        Receive<TensorChunk>(c => _link?.Receive(c), _ => FromCoordinator); // the akka transport's frames, to the link
        Receive<RegistrationRejected>(r =>
        {
            _log.Error("The coordinator refused this worker: {Reason}", ProtocolLimits.Clip(r.Reason));
            _settings.OnJobDone?.Invoke($"refused: {ProtocolLimits.Clip(r.Reason)}");
        }, _ => FromCoordinator);
        Receive<JobDone>(OnJobDone, _ => FromCoordinator);
        Receive<IDnnMessage>(m => _ignored.Add(m, Sender)); // the coordinator's messages from anyone else
        Receive<Leave>(_ =>
        {
            if (_coordinator is not null && _job is not null && !_jobDone)
            {
                _log.Info("Leaving job {Job}", _job.Job);
                _coordinator.Tell(new WorkerLeaving(_job.Job, Self));
            }
            Context.Stop(Self);
        });
    }

    /// <summary>Control messages count only from the coordinator this worker registered with.</summary>
    private bool FromCoordinator => _coordinator is not null && Equals(Sender, _coordinator);

    protected override void PreStart()
    {
        var self = Self;
        _endpoint = new DataPlaneEndpoint(IPAddress.Parse(_settings.DataHost), _settings.DataPort, _settings.Tls, problem => self.Tell(new LinkProblem(problem)));
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
        CloseLink();
        _endpoint?.DisposeAsync().AsTask().Wait(TimeSpan.FromSeconds(5));
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
        var endpoint = _endpoint!;
        _coordinator.Tell(new RegisterWorker(Self, _settings.AdvertisedHost ?? _settings.DataHost, endpoint.LocalEndPoint.Port, _settings.Cores, endpoint.AccessToken));
        // until a StartJob arrives: the coordinator may not be listening yet
        Timers.StartSingleTimer("register", RetryRegistration.Instance, TimeSpan.FromSeconds(2));
    }

    private void OnStartJob(StartJob job)
    {
        Timers.Cancel("register");
        if (_job?.Job == job.Job) return; // a repeated StartJob (our registration was retried)
        CloseLink(); // a previous job's order loop ends after the order in hand
        try
        {
            var spec = CheckedSpec(job);
            var data = DataCache.Load(job.Data, DataRoot.PathFor(job.Data.Path, _settings.DataPathOverride));
            int lanes = Math.Clamp(_settings.Cores, 1, job.Shards);
            var computers = Enumerable.Range(0, lanes)
                .Select(_ => new ShardComputer(spec, data.Train, data.Data.Test, job.BatchSize, job.Shards, job.Seed, job.Shuffle, job.Augmentation, (float)job.LabelSmoothing)).ToArray();
            var settings = new LinkSettings(job.Job, spec.ParameterCount, spec.Layers.Count, job.Shards, job.GradientFormat, job.WeightFormat, _settings.Tls);
            var self = Self;
            _link = WorkerLinks.Open(job, settings, lanes, _endpoint!, Sender, Self, problem => self.Tell(new LinkProblem(problem)));
            _loop = new OrderLoop(_link, computers, job.Job, _settings.Tamper);
            _job = job;
            _jobDone = false;
            _log.Info("Ready for job {Job}: {Network}, {Train} training samples, data fingerprint {Fingerprint}", job.Job, spec.Describe(), data.Train.Count, data.Fingerprint[..12]);
            Sender.Tell(new WorkerReady(job.Job, Self, data.Fingerprint, data.Train.Count, data.Data.Test.Count));
        }
        catch (UserErrorException e)
        {
            _log.Error("Cannot take job {Job}: {Reason}", job.Job, e.Message);
            // the coordinator hears what is wrong, never what a data file holds
            Sender.Tell(new WorkerRefused(job.Job, Self, ProtocolLimits.Clip(e is DataFormatException d ? d.WithoutContents : e.Message)));
        }
    }

    /// <summary>The job's network, once the job is within <see cref="ProtocolLimits"/>: nothing is sized by an unchecked field.</summary>
    private static NetworkSpec CheckedSpec(StartJob job)
    {
        if (ProtocolLimits.Refusal(job) is { } refusal) throw new UserErrorException($"the job is out of bounds: {refusal}");
        NetworkSpec spec;
        try { spec = job.Network.ToSpec(); }
        catch (Exception e) when (e is ArithmeticException or ArgumentException or FormatException or InvalidOperationException)
        {
            throw new UserErrorException($"the job's network is not one: {e.Message}"); // a crafted description
        }
        return ProtocolLimits.Refusal(spec, job) is { } tooLarge ? throw new UserErrorException($"the job is out of bounds: {tooLarge}") : spec;
    }

    private void OnJobDone(JobDone done)
    {
        if (_job is null || done.Job != _job.Job) return;
        _jobDone = true;
        _log.Info("Job {Job} is done ({Outcome})", done.Job, ProtocolLimits.Clip(done.Outcome));
        _settings.OnJobDone?.Invoke(ProtocolLimits.Clip(done.Outcome));
    }

    /// <summary>Ends the order loop (closing the link's order side for both ends); the loop frees the link when it is done with it.</summary>
    private void CloseLink()
    {
        _loop?.Dispose();
        _loop = null;
        _link = null;
    }
}
