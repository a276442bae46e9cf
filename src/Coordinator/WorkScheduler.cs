namespace DistributedNN.Coordinator;

/// <summary>Items handed to one worker in one go.</summary>
public sealed record Assignment(int Worker, int[] Items);

/// <summary>What a deadline found: items taken back from the workers that held them (now suspects), and whether the round stalls.</summary>
public sealed record DeadlineOutcome(IReadOnlyList<(int Item, int Worker)> Late, bool Stalled);

/// <summary>What a NaN/∞ result for an item means: nothing yet, a redo by another worker, or a model that diverged.</summary>
public sealed record NonFiniteVerdict(bool Diverged, Assignment? Redo, int Reporters);

/// <summary>
/// Who computes what, for one round at a time — a step's shards or an epoch's evaluation chunks, the same rules for both:
/// items wait in a queue and go, round robin, to healthy workers with room (a worker holds at most its capacity); a
/// worker that misses a deadline loses its items to the queue and becomes a suspect (it gets work only when nobody else
/// can take it) until it delivers again; bad results count against a worker, and after <see cref="QuarantineAfter"/> it
/// gets no more work; a NaN/∞ item is redone by another worker, and when two workers (or the only one, twice) agree the
/// model has diverged. Workers are plain ids: no actors, messages or clocks here (the coordinator actor owns the timers).
/// </summary>
public sealed class WorkScheduler
{
    /// <summary>Bad results (poisoned, malformed, for items it was not given) before a worker gets no more work.</summary>
    public const int QuarantineAfter = 3;

    /// <summary>Deadlines in a row with no item completed before the round is given up rather than waited on forever.</summary>
    public const int MaxStalledDeadlines = 3;

    private sealed class Worker(int capacity)
    {
        public int Capacity { get; } = capacity;
        public int InFlight;
        public bool Suspect, Quarantined;
        public int BadResults;
    }

    private readonly Dictionary<int, Worker> _workers = new();
    private readonly List<int> _order = new(); // registration order: who is asked first
    private readonly Queue<int> _queue = new();
    private int[] _owner = [];
    private bool[] _done = [];
    private HashSet<int>[] _nonFinite = [];
    private int[] _nonFiniteReports = [];
    private int _completed, _completedAtLastDeadline, _stalledDeadlines;

    // ---- workers ----

    /// <summary>A worker ready for work, holding at most <paramref name="capacity"/> items at once.</summary>
    public void Add(int worker, int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        if (_workers.TryAdd(worker, new Worker(capacity))) _order.Add(worker);
    }

    /// <summary>A worker gone: the items it held go back in the queue (returned).</summary>
    public IReadOnlyList<int> Remove(int worker)
    {
        if (!_workers.Remove(worker)) return [];
        _order.Remove(worker);
        return Requeue(worker);
    }

    public bool Contains(int worker) => _workers.ContainsKey(worker);
    public bool IsQuarantined(int worker) => _workers.TryGetValue(worker, out var w) && w.Quarantined;
    public int HealthyCount => _workers.Values.Count(w => !w.Quarantined);
    public bool AnyHealthy => HealthyCount > 0;

    // ---- a round ----

    /// <summary>Starts a round of <paramref name="items"/> items, all queued; what workers held before is forgotten.</summary>
    public void Begin(int items)
    {
        _queue.Clear();
        for (int i = 0; i < items; i++) _queue.Enqueue(i);
        _owner = Enumerable.Repeat(-1, items).ToArray();
        _done = new bool[items];
        _nonFinite = Enumerable.Range(0, items).Select(_ => new HashSet<int>()).ToArray();
        _nonFiniteReports = new int[items];
        _completed = _completedAtLastDeadline = _stalledDeadlines = 0;
        foreach (var w in _workers.Values) w.InFlight = 0;
    }

    public int Items => _owner.Length;
    public int Completed => _completed;
    public bool AllComplete => _completed == _owner.Length;

    /// <summary>The worker <paramref name="item"/> is assigned to and not yet delivered by, or −1.</summary>
    public int Owner(int item) => (uint)item < (uint)_owner.Length && !_done[item] ? _owner[item] : -1;

    public bool IsAssigned(int item, int worker) => Owner(item) == worker && worker >= 0;

    /// <summary>Hands queued items to healthy workers with room, round robin (suspects only when no one else is healthy).</summary>
    public IReadOnlyList<Assignment> Dispatch()
    {
        var ready = _order.Where(id => !_workers[id].Quarantined).ToList();
        if (ready.Any(id => !_workers[id].Suspect)) ready.RemoveAll(id => _workers[id].Suspect);
        var given = new Dictionary<int, List<int>>();
        bool progress = true;
        while (_queue.Count > 0 && progress)
        {
            progress = false;
            foreach (int id in ready)
            {
                var w = _workers[id];
                if (_queue.Count == 0) break;
                if (w.InFlight >= w.Capacity) continue;
                int item = _queue.Dequeue();
                Assign(item, id);
                (given.TryGetValue(id, out var list) ? list : given[id] = new List<int>()).Add(item);
                progress = true;
            }
        }
        return given.Select(g => new Assignment(g.Key, g.Value.ToArray())).ToList();
    }

    /// <summary>The owner of <paramref name="item"/> delivered it (the caller checked <see cref="IsAssigned"/>): no longer a suspect.</summary>
    public void Complete(int item, int worker)
    {
        if (!IsAssigned(item, worker)) throw new InvalidOperationException($"item {item} is not assigned to worker {worker}");
        _done[item] = true;
        _completed++;
        var w = _workers[worker];
        w.InFlight = Math.Max(0, w.InFlight - 1);
        w.Suspect = false;
    }

    /// <summary>
    /// A deadline passed: items still out go back to the queue and their holders become suspects. Counts deadlines in a row
    /// without progress when <paramref name="countStalls"/> (training steps); none are counted while no worker is healthy.
    /// </summary>
    public DeadlineOutcome Deadline(bool countStalls)
    {
        if (!AnyHealthy) return new DeadlineOutcome([], false); // nobody to blame and nobody to give items to
        if (countStalls)
        {
            _stalledDeadlines = _completed == _completedAtLastDeadline ? _stalledDeadlines + 1 : 0;
            _completedAtLastDeadline = _completed;
            if (_stalledDeadlines >= MaxStalledDeadlines) return new DeadlineOutcome([], true);
        }
        var late = new List<(int, int)>();
        for (int item = 0; item < _owner.Length; item++)
        {
            int owner = Owner(item);
            if (owner < 0) continue;
            late.Add((item, owner));
            if (_workers.TryGetValue(owner, out var w))
            {
                w.InFlight = Math.Max(0, w.InFlight - 1);
                w.Suspect = true;
            }
            Unassign(item);
            _queue.Enqueue(item);
        }
        return new DeadlineOutcome(late, false);
    }

    /// <summary>A bad result from <paramref name="worker"/>; true when this one put it in quarantine (its items went back to the queue).</summary>
    public bool Bad(int worker)
    {
        if (!_workers.TryGetValue(worker, out var w) || w.Quarantined || ++w.BadResults < QuarantineAfter) return false;
        w.Quarantined = true;
        Requeue(worker);
        return true;
    }

    /// <summary>
    /// <paramref name="worker"/> reported NaN/∞ for <paramref name="item"/>: diverged when two workers agree (or the only healthy
    /// one reported it twice); otherwise, if the item is still this worker's, it goes to the healthy worker with the fewest items
    /// in flight that has not reported it (the same one when there is no other).
    /// </summary>
    public NonFiniteVerdict NonFinite(int item, int worker)
    {
        if ((uint)item >= (uint)_owner.Length) return new NonFiniteVerdict(false, null, 0);
        _nonFinite[item].Add(worker);
        int reports = ++_nonFiniteReports[item];
        int reporters = _nonFinite[item].Count;
        if (reporters >= 2 || (HealthyCount <= 1 && reports >= 2)) return new NonFiniteVerdict(true, null, reporters);
        if (!IsAssigned(item, worker)) return new NonFiniteVerdict(false, null, reporters);
        _workers[worker].InFlight = Math.Max(0, _workers[worker].InFlight - 1);
        Unassign(item);
        int other = _order.Where(id => !_workers[id].Quarantined && !_nonFinite[item].Contains(id))
            .OrderBy(id => _workers[id].InFlight).DefaultIfEmpty(worker).First();
        Assign(item, other);
        return new NonFiniteVerdict(false, new Assignment(other, [item]), reporters);
    }

    private void Assign(int item, int worker)
    {
        _owner[item] = worker;
        _workers[worker].InFlight++;
    }

    private void Unassign(int item) => _owner[item] = -1;

    private IReadOnlyList<int> Requeue(int worker)
    {
        var items = new List<int>();
        for (int item = 0; item < _owner.Length; item++)
            if (Owner(item) == worker)
            {
                Unassign(item);
                _queue.Enqueue(item);
                items.Add(item);
            }
        if (_workers.TryGetValue(worker, out var w)) w.InFlight = 0;
        return items;
    }
}
