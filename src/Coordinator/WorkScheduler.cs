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
/// model has diverged. An item verified twice (--verify-fraction) has two slots, never given to the same worker: a slot
/// no healthy worker may take is the coordinator's to compute (<see cref="TakeStranded"/>). A worker whose node is cut off
/// (<see cref="CutOff"/>: the cluster marks it unreachable) loses its items at once and gets none until it is reachable
/// again (<see cref="Reconnect"/>); meanwhile it is not healthy. Workers are plain ids: no
/// actors, messages or clocks here (the coordinator actor owns the timers).
/// </summary>
public sealed class WorkScheduler
{
    /// <summary>Bad results (poisoned, malformed, for items it was not given) before a worker gets no more work.</summary>
    public const int QuarantineAfter = 3;

    /// <summary>Deadlines in a row with no item completed before the round is given up rather than waited on forever.</summary>
    public const int MaxStalledDeadlines = 3;

    /// <summary>The owner of a slot the coordinator computed itself.</summary>
    public const int Coordinator = -2;

    private sealed class Worker(int capacity)
    {
        public int Capacity { get; } = capacity;
        public int InFlight;
        public bool Suspect, Quarantined, CutOff;
        public bool Healthy => !Quarantined && !CutOff;
        public int BadResults;
    }

    private readonly Dictionary<int, Worker> _workers = new();
    private readonly List<int> _order = new(); // registration order: who is asked first
    private readonly List<int> _queue = new(); // slots waiting, oldest first
    private int[] _item = [];    // slot → the item it computes (slots 0..items−1 are the items themselves, then their second copies)
    private int[][] _slots = []; // item → its slots (two for an item verified twice)
    private int[] _owner = [];   // slot → the worker given it, −1 while queued; kept after delivery (that worker may not take the item's other slot)
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
    public bool IsCutOff(int worker) => _workers.TryGetValue(worker, out var w) && w.CutOff;
    /// <summary>Workers that may be given work: neither quarantined nor cut off.</summary>
    public int HealthyCount => _workers.Values.Count(w => w.Healthy);
    public bool AnyHealthy => HealthyCount > 0;

    // ---- a round ----

    /// <summary>
    /// Starts a round of <paramref name="items"/> items, all queued, those in <paramref name="twice"/> with a second slot
    /// (queued after all the first ones); what workers held before is forgotten.
    /// </summary>
    public void Begin(int items, IReadOnlyList<int>? twice = null)
    {
        twice ??= [];
        if (twice.Any(i => (uint)i >= (uint)items) || twice.Distinct().Count() != twice.Count)
            throw new ArgumentException("items verified twice must be distinct items of the round", nameof(twice));
        _item = [.. Enumerable.Range(0, items), .. twice];
        _slots = Enumerable.Range(0, items).Select(i => new[] { i }).ToArray();
        for (int j = 0; j < twice.Count; j++) _slots[twice[j]] = [twice[j], items + j];
        _queue.Clear();
        _queue.AddRange(Enumerable.Range(0, _item.Length));
        _owner = Enumerable.Repeat(-1, _item.Length).ToArray();
        _done = new bool[_item.Length];
        _nonFinite = Enumerable.Range(0, items).Select(_ => new HashSet<int>()).ToArray();
        _nonFiniteReports = new int[items];
        _completed = _completedAtLastDeadline = _stalledDeadlines = 0;
        foreach (var w in _workers.Values) w.InFlight = 0;
    }

    public int Items => _slots.Length;
    /// <summary>Results the round needs: one per item, two for an item verified twice.</summary>
    public int Slots => _item.Length;
    public int Completed => _completed;
    public bool AllComplete => _completed == _item.Length;

    /// <summary>The worker <paramref name="item"/> (its first slot) is assigned to and not yet delivered by, or −1.</summary>
    public int Owner(int item) => (uint)item < (uint)_slots.Length && !_done[item] ? _owner[item] : -1;

    public bool IsAssigned(int item, int worker) => SlotOf(item, worker) >= 0;

    /// <summary>The slot of <paramref name="item"/> assigned to <paramref name="worker"/> and not yet delivered, or −1.</summary>
    private int SlotOf(int item, int worker) =>
        worker >= 0 && (uint)item < (uint)_slots.Length ? _slots[item].FirstOrDefault(s => _owner[s] == worker && !_done[s], -1) : -1;

    /// <summary>
    /// Hands queued items to healthy workers with room, round robin: never a slot to a worker that has the item's other
    /// slot, and to a suspect only when no healthy worker that is not one may take it.
    /// </summary>
    public IReadOnlyList<Assignment> Dispatch()
    {
        var healthy = Healthy();
        var given = new Dictionary<int, List<int>>();
        bool progress = true;
        while (_queue.Count > 0 && progress)
        {
            progress = false;
            foreach (int id in healthy)
            {
                var w = _workers[id];
                if (w.InFlight >= w.Capacity) continue;
                int index = _queue.FindIndex(slot => MayTake(slot, id, healthy));
                if (index < 0) continue;
                int slot = _queue[index];
                _queue.RemoveAt(index);
                Assign(slot, id);
                (given.TryGetValue(id, out var list) ? list : given[id] = new List<int>()).Add(_item[slot]);
                progress = true;
            }
        }
        return given.Select(g => new Assignment(g.Key, g.Value.ToArray())).ToList();
    }

    /// <summary>
    /// Queued slots that no healthy worker may take, because each healthy one has the item's other slot (one healthy
    /// worker and an item verified twice): the coordinator computes them, and they count as done (returned as items).
    /// </summary>
    public IReadOnlyList<int> TakeStranded()
    {
        var healthy = Healthy();
        if (healthy.Count == 0) return []; // nobody to compare with: the wait for workers decides
        var stranded = _queue.Where(slot => !healthy.Any(id => Eligible(slot, id))).ToList();
        foreach (int slot in stranded)
        {
            _queue.Remove(slot);
            _owner[slot] = Coordinator;
            _done[slot] = true;
            _completed++;
        }
        return stranded.Select(slot => _item[slot]).ToList();
    }

    /// <summary>The owner of <paramref name="item"/> delivered it (the caller checked <see cref="IsAssigned"/>): no longer a suspect.</summary>
    public void Complete(int item, int worker)
    {
        int slot = SlotOf(item, worker);
        if (slot < 0) throw new InvalidOperationException($"item {item} is not assigned to worker {worker}");
        _done[slot] = true;
        _completed++;
        var w = _workers[worker];
        w.InFlight = Math.Max(0, w.InFlight - 1);
        w.Suspect = false;
    }

    /// <summary>
    /// Whether a sound result for <paramref name="item"/> from <paramref name="worker"/>, which does not hold it, may count:
    /// the item is computed once (not verified twice), not yet delivered, and the worker is healthy and not a suspect. Any
    /// worker computes an item's very bits; and under the sharded topology its gradient slices may already be in the slice
    /// owners' sums (from an order of the step that a new layout overtook), so that no worker can compute it again once
    /// the step's weights have moved on — the first sound result must count.
    /// </summary>
    public bool CanClaim(int item, int worker) =>
        (uint)item < (uint)_slots.Length && _slots[item].Length == 1 && !_done[item]
        && _workers.TryGetValue(worker, out var w) && w.Healthy && !w.Suspect;

    /// <summary>Gives <paramref name="item"/> to <paramref name="worker"/> (see <see cref="CanClaim"/>): out of the queue, or from the worker that held it.</summary>
    public void Claim(int item, int worker)
    {
        if (!CanClaim(item, worker)) throw new InvalidOperationException($"item {item} cannot be claimed by worker {worker}");
        int previous = _owner[item];
        if (previous == worker) return;
        if (previous < 0) _queue.Remove(item);
        else if (_workers.TryGetValue(previous, out var p)) p.InFlight = Math.Max(0, p.InFlight - 1);
        Assign(item, worker);
    }

    /// <summary>What <paramref name="worker"/> delivered for <paramref name="item"/> no longer counts (it lied in this round): the slot is queued again.</summary>
    public void Reopen(int item, int worker)
    {
        int slot = (uint)item < (uint)_slots.Length ? _slots[item].FirstOrDefault(s => _owner[s] == worker && _done[s], -1) : -1;
        if (slot < 0 || worker < 0) return;
        _done[slot] = false;
        _completed--;
        Unassign(slot);
        _queue.Add(slot);
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
        for (int slot = 0; slot < _item.Length; slot++)
        {
            int owner = _owner[slot];
            if (_done[slot] || owner < 0) continue;
            late.Add((_item[slot], owner));
            if (_workers.TryGetValue(owner, out var w))
            {
                w.InFlight = Math.Max(0, w.InFlight - 1);
                w.Suspect = true;
            }
            Unassign(slot);
            _queue.Add(slot);
        }
        return new DeadlineOutcome(late, false);
    }

    /// <summary>A bad result from <paramref name="worker"/>; true when this one put it in quarantine (its items went back to the queue).</summary>
    public bool Bad(int worker) =>
        _workers.TryGetValue(worker, out var w) && !w.Quarantined && ++w.BadResults >= QuarantineAfter && Quarantine(worker);

    /// <summary>No more work for <paramref name="worker"/> (a proven lie needs no second chance): its items go back to the queue; true the first time.</summary>
    public bool Quarantine(int worker)
    {
        if (!_workers.TryGetValue(worker, out var w) || w.Quarantined) return false;
        w.Quarantined = true;
        Requeue(worker);
        return true;
    }

    /// <summary>
    /// <paramref name="worker"/>'s node is unreachable: what it holds goes back in the queue (returned) — a partition's
    /// stall is not waited out like a deadline — and it gets no work until <see cref="Reconnect"/>. Unlike a deadline this
    /// does not make it a suspect: its node was cut off, not slow.
    /// </summary>
    public IReadOnlyList<int> CutOff(int worker)
    {
        if (!_workers.TryGetValue(worker, out var w) || w.CutOff) return [];
        w.CutOff = true;
        return Requeue(worker);
    }

    /// <summary>A cut-off worker's node is reachable again: it may be given work (true when it was cut off).</summary>
    public bool Reconnect(int worker)
    {
        if (!_workers.TryGetValue(worker, out var w) || !w.CutOff) return false;
        w.CutOff = false;
        return true;
    }

    /// <summary>
    /// <paramref name="worker"/> reported NaN/∞ for <paramref name="item"/>: diverged when two workers agree (or the only healthy
    /// one reported it twice); otherwise, if the item is still this worker's, it goes to the healthy worker with the fewest items
    /// in flight that has not reported it and may take it (the same one when there is no other).
    /// </summary>
    public NonFiniteVerdict NonFinite(int item, int worker)
    {
        if ((uint)item >= (uint)_slots.Length) return new NonFiniteVerdict(false, null, 0);
        _nonFinite[item].Add(worker);
        int reports = ++_nonFiniteReports[item];
        int reporters = _nonFinite[item].Count;
        if (reporters >= 2 || (HealthyCount <= 1 && reports >= 2)) return new NonFiniteVerdict(true, null, reporters);
        int slot = SlotOf(item, worker);
        if (slot < 0) return new NonFiniteVerdict(false, null, reporters);
        _workers[worker].InFlight = Math.Max(0, _workers[worker].InFlight - 1);
        Unassign(slot);
        int other = _order.Where(id => _workers[id].Healthy && !_nonFinite[item].Contains(id) && Eligible(slot, id))
            .OrderBy(id => _workers[id].InFlight).DefaultIfEmpty(worker).First();
        Assign(slot, other);
        return new NonFiniteVerdict(false, new Assignment(other, [item]), reporters);
    }

    private List<int> Healthy() => _order.Where(id => _workers[id].Healthy).ToList();

    /// <summary>No other slot of the slot's item was given to <paramref name="worker"/> (held or delivered).</summary>
    private bool Eligible(int slot, int worker) => _slots[_item[slot]].All(other => other == slot || _owner[other] != worker);

    private bool MayTake(int slot, int worker, List<int> healthy) => Eligible(slot, worker)
        && (!_workers[worker].Suspect || !healthy.Any(id => !_workers[id].Suspect && Eligible(slot, id)));

    private void Assign(int slot, int worker)
    {
        _owner[slot] = worker;
        _workers[worker].InFlight++;
    }

    private void Unassign(int slot) => _owner[slot] = -1;

    private List<int> Requeue(int worker)
    {
        var items = new List<int>();
        for (int slot = 0; slot < _item.Length; slot++)
            if (!_done[slot] && _owner[slot] == worker)
            {
                Unassign(slot);
                _queue.Add(slot);
                items.Add(_item[slot]);
            }
        if (_workers.TryGetValue(worker, out var w)) w.InFlight = 0;
        return items;
    }
}
