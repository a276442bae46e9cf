using Akka.Actor;
using DistributedNN.Protocol;
using DistributedNN.Transport;

namespace DistributedNN.Coordinator;

/// <summary>A worker the coordinator knows: its actor, how to reach it, its link once open, whether it is ready for the job.</summary>
public sealed class RegisteredWorker(int id, IActorRef actor, WorkerContact contact, int cores)
{
    /// <summary>Shards in flight per single-core worker (a worker with more cores gets one per core).</summary>
    public const int InFlightPerCore = 2;

    public int Id { get; } = id;
    public IActorRef Actor { get; } = actor;
    public WorkerContact Contact { get; } = contact;
    public int Cores { get; } = cores;
    /// <summary>Items in flight at once: enough to keep each of its cores busy, and one queued; never more than an order can name.</summary>
    public int Capacity { get; } = Math.Clamp(Math.Max(InFlightPerCore, cores), 1, WorkCodec.MaxItems);
    public IWorkerLink? Link { get; set; }
    public bool Ready { get; set; }
    public string Name => Actor.Path.Address.HasLocalScope ? Actor.Path.Name : $"{Actor.Path.Address.Host}:{Actor.Path.Address.Port}/{Actor.Path.Name}";
}

/// <summary>The workers that registered for the job, by actor, by id and by link; ids are never reused.</summary>
public sealed class WorkerRegistry
{
    private readonly Dictionary<IActorRef, RegisteredWorker> _byActor = new();
    private int _nextId;

    public IEnumerable<RegisteredWorker> All => _byActor.Values;
    public int ReadyCount => _byActor.Values.Count(w => w.Ready);
    /// <summary>The most workers ready at once so far.</summary>
    public int MaxReady { get; private set; }

    /// <summary>Registers <paramref name="sender"/> — the actor a registration came from, whatever it names — or says why not.</summary>
    public RegisteredWorker? Add(IActorRef sender, RegisterWorker registration, out string? refusal)
    {
        refusal = registration.AccessToken is { Length: not TensorHandshake.TokenSize }
            ? $"its access token has {registration.AccessToken.Length} bytes, not {TensorHandshake.TokenSize}" : null;
        if (refusal is not null) return null;
        var contact = new WorkerContact(sender, registration.DataPlaneHost, registration.DataPlanePort, registration.AccessToken);
        var worker = new RegisteredWorker(++_nextId, sender, contact, Math.Max(1, registration.Cores));
        _byActor.Add(sender, worker);
        return worker;
    }

    /// <summary>Completes once every link has sent what it was given (null when none is still sending).</summary>
    public Task? Sending()
    {
        var sending = _byActor.Values.Select(w => w.Link?.Flushed).OfType<Task>().Where(t => !t.IsCompleted).ToArray();
        return sending.Length == 0 ? null : Task.WhenAll(sending);
    }

    public RegisteredWorker? Find(IActorRef actor) => _byActor.GetValueOrDefault(actor);
    public RegisteredWorker? Find(int id) => _byActor.Values.FirstOrDefault(w => w.Id == id);
    public RegisteredWorker? Find(IWorkerLink link) => _byActor.Values.FirstOrDefault(w => ReferenceEquals(w.Link, link));

    public void MarkReady(RegisteredWorker worker)
    {
        worker.Ready = true;
        MaxReady = Math.Max(MaxReady, ReadyCount);
    }

    public bool Remove(IActorRef actor, out RegisteredWorker worker) => _byActor.Remove(actor, out worker!);
}
