using System.Runtime.InteropServices;
using DistributedNN.Protocol;
using DistributedNN.Training;
using DistributedNN.Transport;

namespace DistributedNN.Coordinator;

/// <summary>
/// The sharded topology's layouts, on the coordinator (docs/DATA_PLANE.md, "sharded topology"): the parameter vector cut
/// into one slice per worker, each summed and updated by its owner; the coordinator keeps a replica of the whole state,
/// fed by the owners' slice sums, so it still holds every weight, the optimizer, checkpoints and the final model. A layout
/// starts from that replica — each worker gets the layout, the weights, its slice's optimizer state — so when a worker
/// (an owner) joins or leaves, the step in progress is simply done again under a new layout: nothing lives only on an owner.
/// The cut changes nothing in the bits: the sum is in shard order and the optimizer element-wise, whoever owns what.
/// </summary>
public sealed class ReduceTopology(TrainingState state, Guid job)
{
    /// <summary>Slice bounds are multiples of this many values (one 512-bit vector), unless the model is tiny.</summary>
    public const int Alignment = 16;

    private RegisteredWorker[] _members = [];

    /// <summary>The current layout's id (0: none yet).</summary>
    public ushort Id { get; private set; }
    public int[] Bounds { get; private set; } = [];
    public IReadOnlyList<RegisteredWorker> Members => _members;

    public bool IsMember(RegisteredWorker worker) => Array.IndexOf(_members, worker) >= 0;

    /// <summary>The worker id that owns each slice of the current layout.</summary>
    public int[] Owners { get; private set; } = [];

    /// <summary>Whether the current layout is over exactly these workers.</summary>
    public bool Covers(IReadOnlyCollection<RegisteredWorker> workers) => Id != 0 && workers.Count == _members.Length && workers.All(IsMember);

    /// <summary>A new layout over <paramref name="members"/> from the state as it stands: each gets it, the weights, its slice's state.</summary>
    public void Start(IReadOnlyList<RegisteredWorker> members)
    {
        Id = (ushort)(Id % ushort.MaxValue + 1);
        _members = members.ToArray();
        Owners = _members.Select(m => m.Id).ToArray();
        Bounds = Cut(state.Spec.ParameterCount, _members.Length);
        var owners = _members.Select(m => new SliceOwner(m.Contact.DataPlaneHost, m.Contact.DataPlanePort, TensorHandshake.PeerToken(m.Contact.AccessToken))).ToArray();
        for (int i = 0; i < _members.Length; i++)
        {
            var link = _members[i].Link!;
            var layout = new ReduceLayout(job, Id, state.Version, i, Bounds, owners, state.Optimizer.Settings, state.Optimizer.Steps);
            var bytes = layout.Write();
            var payload = new float[(bytes.Length + sizeof(float) - 1) / sizeof(float)];
            bytes.CopyTo(MemoryMarshal.AsBytes(payload.AsSpan()));
            link.SendFrame(Frame(TensorKind.Layout, 0, payload.Length), payload);
            link.WeightsHeld(-1); // the worker forgets what it held: the layout starts from these weights
            link.SendWeights(state.Steps, state.Version, state.Parameters);
            var (offset, length) = (Bounds[i], Bounds[i + 1] - Bounds[i]);
            link.SendFrame(Frame(TensorKind.SliceState, 0, length), state.Parameters.AsMemory(offset, length));
            if (state.Optimizer.Velocity.Length > 0) link.SendFrame(Frame(TensorKind.SliceState, 1, length), state.Optimizer.Velocity.AsMemory(offset, length));
            if (state.Optimizer.SecondMoment.Length > 0) link.SendFrame(Frame(TensorKind.SliceState, 2, length), state.Optimizer.SecondMoment.AsMemory(offset, length));
        }
    }

    private TensorHeader Frame(TensorKind kind, int shard, int count) => new(job, state.Steps, state.Version, kind, shard, count) { Layout = Id };

    /// <summary>The members hold the weights as they stand (the owners sent them): no worker is sent them again.</summary>
    public void Held()
    {
        foreach (var m in _members) m.Link?.WeightsHeld(state.Version);
    }

    /// <summary><paramref name="slices"/> + 1 bounds cutting <paramref name="parameters"/> values into near-equal slices on <see cref="Alignment"/>.</summary>
    public static int[] Cut(int parameters, int slices)
    {
        if (slices < 1 || slices > parameters) throw new ArgumentOutOfRangeException(nameof(slices), slices, $"1..{parameters} slices");
        int unit = parameters >= Alignment * slices ? Alignment : 1;
        var bounds = new int[slices + 1];
        for (int i = 1; i < slices; i++) bounds[i] = (int)((long)i * parameters / slices / unit * unit);
        bounds[slices] = parameters;
        return bounds;
    }
}
