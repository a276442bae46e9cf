using Akka.Actor;
using DistributedNN.Protocol;
using DistributedNN.Transport;

namespace DistributedNN.Coordinator;

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
