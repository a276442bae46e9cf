using Akka.Actor;
using Akka.Cluster;
using Akka.Event;

namespace DistributedNN.Coordinator;

/// <summary>
/// The workers whose node the cluster marks unreachable — a partition, a frozen or overloaded host: such a worker is cut
/// off at once (its items go to the others, without waiting for --step-timeout) and gets no work until its node is
/// reachable again; a node that stays unreachable is downed by the split-brain resolver, and DeathWatch then removes its
/// worker. It also names the workers cut off during the round: their compute times in it are not counted, because a
/// frozen process's clock runs on through the stall and one such shard would make the host look slow.
/// </summary>
public sealed class WorkerReachability(WorkerRegistry registry, WorkScheduler scheduler, ILoggingAdapter? log = null)
{
    private readonly HashSet<Address> _unreachable = new();
    private readonly HashSet<string> _cutOffInRound = new(StringComparer.Ordinal);

    /// <summary>The workers (by name) cut off at some time during the round in progress.</summary>
    public IReadOnlyCollection<string> CutOffInRound => _cutOffInRound;

    /// <summary>A cluster event about <paramref name="e"/>'s member: true when a worker was cut off or came back (the healthy ones changed).</summary>
    public bool Apply(ClusterEvent.IClusterDomainEvent e) => e switch
    {
        ClusterEvent.UnreachableMember u => Unreachable(u.Member.Address),
        ClusterEvent.ReachableMember r => Reachable(r.Member.Address),
        ClusterEvent.MemberRemoved m => Forget(m.Member.Address), // a new node may come on its address
        _ => false,
    };

    /// <summary>The node at <paramref name="node"/> is unreachable: its workers are cut off, their items back in the queue.</summary>
    public bool Unreachable(Address node)
    {
        _unreachable.Add(node);
        bool changed = false;
        foreach (var worker in On(node)) changed |= CutOff(worker);
        return changed;
    }

    /// <summary>The node at <paramref name="node"/> is reachable again: its cut-off workers may be given work.</summary>
    public bool Reachable(Address node)
    {
        if (!_unreachable.Remove(node)) return false;
        bool changed = false;
        foreach (var worker in On(node).Where(w => scheduler.Reconnect(w.Id)))
        {
            log?.Info("Worker {Worker} reachable again: it takes work again", worker.Name);
            changed |= !scheduler.IsQuarantined(worker.Id);
        }
        return changed;
    }

    private bool Forget(Address node)
    {
        _unreachable.Remove(node);
        return false; // its workers are removed by DeathWatch
    }

    /// <summary>A worker just admitted to the scheduler: cut off at once if its node is unreachable.</summary>
    public void Admitted(RegisteredWorker worker)
    {
        if (_unreachable.Contains(worker.Actor.Path.Address)) CutOff(worker);
    }

    /// <summary>A round starts: the workers cut off now are cut off during it.</summary>
    public void BeginRound()
    {
        _cutOffInRound.Clear();
        foreach (var w in registry.All.Where(w => scheduler.IsCutOff(w.Id))) _cutOffInRound.Add(w.Name);
    }

    private bool CutOff(RegisteredWorker worker)
    {
        if (!scheduler.Contains(worker.Id) || scheduler.IsCutOff(worker.Id)) return false; // not ready yet: cut off when admitted
        bool wasHealthy = !scheduler.IsQuarantined(worker.Id);
        var items = scheduler.CutOff(worker.Id);
        _cutOffInRound.Add(worker.Name);
        log?.Warning("Worker {Worker} unreachable: its {Items} items go to others", worker.Name, items.Count);
        return wasHealthy;
    }

    private IEnumerable<RegisteredWorker> On(Address node) => registry.All.Where(w => w.Actor.Path.Address.Equals(node)).ToList();
}
