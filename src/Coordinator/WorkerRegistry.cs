using Akka.Actor;
using DistributedNN.Protocol;
using DistributedNN.Transport;

namespace DistributedNN.Coordinator;

/// <summary>The workers that registered for the job, by actor, by id and by link; ids are never reused.</summary>
public sealed class WorkerRegistry
{
    private readonly Dictionary<IActorRef, RegisteredWorker> _byActor = new();
    private readonly Dictionary<int, RegisteredWorker> _byId = new();
    private readonly Dictionary<IWorkerLink, RegisteredWorker> _byLink = new(ReferenceEqualityComparer.Instance);
    private int _nextId;

    public IEnumerable<RegisteredWorker> All => _byActor.Values;
    public int ReadyCount => _byActor.Values.Count(w => w.Ready);
    /// <summary>The most workers ready at once so far.</summary>
    public int MaxReady { get; private set; }

    /// <summary>Registers <paramref name="sender"/> — the actor a registration came from, whatever it names — or says why not.</summary>
    public RegisteredWorker? Add(IActorRef sender, RegisterWorker registration, out string? refusal)
    {
        // only the sender counts: the actor a message names is the sender's word, not proof
        refusal = Equals(registration.Worker, sender) ? ProtocolLimits.Refusal(registration) : "it names another actor"; // cores, host, port, token within bounds
        if (refusal is not null) return null;
        var contact = new WorkerContact(sender, registration.DataPlaneHost, registration.DataPlanePort, registration.AccessToken);
        var worker = new RegisteredWorker(++_nextId, sender, contact, Math.Max(1, registration.Cores));
        _byActor.Add(sender, worker);
        _byId.Add(worker.Id, worker);
        return worker;
    }

    /// <summary>The worker's link is open: results that come on it are the worker's.</summary>
    public void Attach(RegisteredWorker worker, IWorkerLink link)
    {
        worker.Link = link;
        _byLink[link] = worker;
    }

    /// <summary>Completes once every link has sent what it was given (null when none is still sending).</summary>
    public Task? Sending()
    {
        var sending = _byActor.Values.Select(w => w.Link?.Flushed).OfType<Task>().Where(t => !t.IsCompleted).ToArray();
        return sending.Length == 0 ? null : Task.WhenAll(sending);
    }

    public RegisteredWorker? Find(IActorRef actor) => _byActor.GetValueOrDefault(actor);
    public RegisteredWorker? Find(int id) => _byId.GetValueOrDefault(id);
    public RegisteredWorker? Find(IWorkerLink link) => _byLink.GetValueOrDefault(link);

    public void MarkReady(RegisteredWorker worker)
    {
        worker.Ready = true;
        MaxReady = Math.Max(MaxReady, ReadyCount);
    }

    public bool Remove(IActorRef actor, out RegisteredWorker worker)
    {
        if (!_byActor.Remove(actor, out worker!)) return false;
        _byId.Remove(worker.Id);
        if (worker.Link is not null) _byLink.Remove(worker.Link);
        return true;
    }
}
