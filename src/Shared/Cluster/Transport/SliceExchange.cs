using DistributedNN.Protocol;
using DistributedNN.Training;

namespace DistributedNN.Transport;

/// <summary>
/// A worker's part in a sharded job (docs/DATA_PLANE.md, "sharded topology"): under the coordinator's
/// <see cref="ReduceLayout"/> it sends each shard's gradient slice by slice to the slices' owners (reduce-scatter), owns
/// one slice itself (<see cref="SliceReducer"/>: the shard-ordered sum and the optimizer's update of the slice, then the
/// new slice to every worker and the slice's sum to the coordinator), and assembles the next weights from every owner's
/// slice (all-gather) into the link's <see cref="WeightsSlot"/>. Inert until the first layout arrives.
/// Connections: this worker opens one to every other owner (peer token; duplex: gradient slices out, weight slices back),
/// and serves the ones the others open to it (<see cref="ServeAsync"/>).
/// </summary>
internal sealed partial class SliceExchange : IDisposable
{
    private readonly LinkSettings _settings;
    private readonly WeightsSlot _slot;
    private readonly Action<string> _onProblem;
    private readonly Action<WorkResult, float[]> _sendSum;
    private readonly object _gate = new(); // Monitor: WaitForWeights waits on it
    private readonly Dictionary<long, Assembly> _assemblies = new();
    private readonly Dictionary<int, TensorChannel> _members = new();
    private ReduceLayout? _layout;
    private SliceReducer? _reducer;
    private Task<TensorChannel>?[] _owners = [];
    private float[][] _scratch = [];
    private int _stateFrames;
    private long _lastStep;
    private CancellationTokenSource _connecting = new();
    private bool _disposed;

    /// <param name="sendSum">sends a slice's result and its sum to the coordinator, the two frames together</param>
    public SliceExchange(LinkSettings settings, WeightsSlot slot, Action<string> onProblem, Action<WorkResult, float[]> sendSum)
    {
        (_settings, _slot, _onProblem, _sendSum) = (settings, slot, onProblem, sendSum);
    }

    /// <summary>The layout the worker's gradients go by now, or null (star: to the coordinator).</summary>
    public ReduceLayout? Layout
    {
        get { lock (_gate) return _layout; }
    }

    // ---- the coordinator's frames ----

    /// <summary>A new layout: the old connections close, the weights held are forgotten (the coordinator's follow), this worker's slice starts over.</summary>
    public void OnLayout(ReduceLayout layout)
    {
        lock (_gate)
        {
            CloseConnections();
            _layout = layout;
            _slot.Reset();
            foreach (var a in _assemblies.Values) _slot.Return(a.Buffer);
            _assemblies.Clear();
            int self = layout.Self;
            _reducer = new SliceReducer(layout.Offset(self), layout.Length(self), _settings.Shards, layout.Optimizer, layout.OptimizerSteps, layout.Version);
            _stateFrames = 1 + (_reducer.Optimizer.Velocity.Length > 0 ? 1 : 0) + (_reducer.Optimizer.SecondMoment.Length > 0 ? 1 : 0);
            _owners = new Task<TensorChannel>?[layout.Slices];
            _scratch = new float[layout.Slices][];
            _connecting = new CancellationTokenSource();
            for (int r = 0; r < layout.Slices; r++)
            {
                if (r == self) continue;
                _scratch[r] = GC.AllocateUninitializedArray<float>(layout.Length(r) + 1, pinned: true);
                _owners[r] = ConnectAsync(layout, r, _connecting.Token);
            }
            LayoutChanged(); // members whose frames named this layout before it came (AwaitLayoutAsync)
        }
    }

    /// <summary>Where a <see cref="TensorKind.SliceState"/> frame of the current layout goes (this worker's slice's weights or optimizer state).</summary>
    public Memory<float> StateDestination(in TensorHeader header)
    {
        lock (_gate)
        {
            if (_layout is null || header.Layout != _layout.Id || _reducer is not { } r) return default;
            var target = header.Shard switch { 0 => r.Weights, 1 => r.Optimizer.Velocity, 2 => r.Optimizer.SecondMoment, _ => [] };
            return target.Length == header.Count && target.Length > 0 ? target : default;
        }
    }

    /// <summary>A state frame is in: once all are, a step whose parts all came meanwhile is applied.</summary>
    public void StateReceived(in TensorHeader header)
    {
        lock (_gate)
        {
            if (_layout is null || header.Layout != _layout.Id) return;
            _stateFrames--;
            TryApply();
        }
    }

    // ---- this worker's gradients ----

    /// <summary>
    /// Sends each slice of a shard's <paramref name="gradient"/> (summed over <paramref name="samples"/> samples) to its owner;
    /// returns the layout they went by. Waits for the owners' connections (up to <paramref name="timeout"/>).
    /// </summary>
    public ushort Scatter(long step, long version, int shard, int samples, float[] gradient, TimeSpan timeout)
    {
        ReduceLayout layout;
        Task<TensorChannel>?[] owners;
        float[][] scratch;
        lock (_gate)
        {
            layout = _layout ?? throw new InvalidOperationException("no reduce layout");
            (owners, scratch) = (_owners, _scratch);
            Offer(layout.Id, step, version, shard, gradient.AsSpan(layout.Offset(layout.Self), layout.Length(layout.Self)), samples);
        }
        var sends = new List<Task>(layout.Slices);
        for (int r = 0; r < layout.Slices; r++)
        {
            if (owners[r] is not { } connecting) continue;
            int length = layout.Length(r);
            gradient.AsSpan(layout.Offset(r), length).CopyTo(scratch[r]);
            scratch[r][length] = BitConverter.Int32BitsToSingle(samples);
            var header = new TensorHeader(_settings.Job, step, version, TensorKind.GradientSlice, shard, length + 1) { Layout = layout.Id };
            sends.Add(SendAsync(connecting, header, scratch[r], timeout));
        }
        try
        {
            if (!Task.WaitAll(sends.ToArray(), timeout)) Abandon(layout, sends, owners, timeout);
        }
        catch (AggregateException e)
        {
            _onProblem($"could not send shard {shard} of step {step + 1} to every slice owner: {e.InnerExceptions[0].Message}");
        }
        return layout.Id;
    }

    /// <summary>
    /// Owners that took no slice within the timeout (frozen, cut off): their connections close — a half-sent frame must never
    /// be completed from a buffer the next shard rewrites — and they get nothing more in this layout (the coordinator moves on).
    /// </summary>
    private void Abandon(ReduceLayout layout, List<Task> sends, Task<TensorChannel>?[] owners, TimeSpan timeout)
    {
        lock (_gate)
        {
            if (!ReferenceEquals(owners, _owners)) return; // a new layout closed them already
            for (int r = 0, i = 0; r < owners.Length; r++)
            {
                if (owners[r] is not { } connecting) continue;
                if (!sends[i++].IsCompleted)
                {
                    _onProblem($"the owner of slice {r} ({layout.Owners[r].Host}:{layout.Owners[r].Port}) took no gradient slice within {timeout.TotalSeconds:0} s: dropping its connection");
                    connecting.ContinueWith(t => t.Result.Dispose(), TaskContinuationOptions.OnlyOnRanToCompletion);
                    _owners[r] = null;
                    _scratch[r] = GC.AllocateUninitializedArray<float>(layout.Length(r) + 1, pinned: true);
                }
            }
        }
    }

    private static async Task SendAsync(Task<TensorChannel> connecting, TensorHeader header, float[] payload, TimeSpan timeout)
    {
        var channel = await connecting.WaitAsync(timeout).ConfigureAwait(false);
        await channel.SendAsync(header, payload).ConfigureAwait(false);
    }

    // ---- the slice this worker owns ----

    private void Offer(ushort layout, long step, long version, int shard, ReadOnlySpan<float> part, int samples)
    {
        if (_layout is null || layout != _layout.Id || _reducer is not { } r) return;
        _lastStep = Math.Max(_lastStep, step);
        if (r.Offer(version, shard, part, samples)) TryApply();
    }

    /// <summary>
    /// Under the gate: the step's update once its parts and the slice's state are in, then the new slice to everyone. What
    /// leaves is a copy (nothing waits for a slow or frozen member: its copy goes when it reads, or with its connection).
    /// </summary>
    private void TryApply()
    {
        if (_reducer is not { AllIn: true } r || _stateFrames > 0 || _layout is not { } layout) return;
        r.Apply();
        var header = new TensorHeader(_settings.Job, _lastStep, r.Version, TensorKind.WeightsSlice, layout.Self, r.Length) { Layout = layout.Id };
        var weights = (float[])r.Weights.Clone();
        var sends = _members.Values.Select(m => m.SendAsync(header, weights).AsTask()).ToList();
        Assemble(layout, layout.Self, r.Version, r.Weights);
        var sum = new WorkResult(WorkKind.SliceSum, _settings.Job, _lastStep, r.Version - 1, r.Offset, new Model.BatchStats(0, 0, r.LastSamples), 0, r.Length, []);
        var sumCopy = (float[])r.Sum.Clone();
        _ = Task.Run(() => _sendSum(sum, sumCopy));
        _ = Task.WhenAll(sends).ContinueWith(t => _onProblem($"a slice of weights v{r.Version} did not reach every worker: {t.Exception!.InnerExceptions[0].Message}"),
            TaskContinuationOptions.OnlyOnFaulted);
    }

    // ---- the next weights, slice by slice ----

    private async Task<TensorChannel> ConnectAsync(ReduceLayout layout, int owner, CancellationToken ct)
    {
        var o = layout.Owners[owner];
        var endpoint = await CoordinatorTransport.ResolveAsync(o.Host, o.Port, ct).ConfigureAwait(false);
        var options = TensorChannelOptions.ForModel(_settings.ParameterCount + 1) with { Tls = _settings.Tls, AccessToken = o.PeerToken };
        TensorChannel channel;
        for (int attempt = 1; ; attempt++)
        {
            // every worker connects to every owner at once when a layout starts: a listener busy with handshakes resets some
            try
            {
                channel = await TensorChannel.ConnectAsync(endpoint, options, ct).ConfigureAwait(false);
                break;
            }
            catch (Exception e) when (attempt < 5 && e is IOException or System.Net.Sockets.SocketException or TensorAuthenticationException)
            {
                await Task.Delay(100 * attempt, ct).ConfigureAwait(false);
            }
        }
        await channel.SendAsync(new TensorHeader(_settings.Job, 0, layout.Version, TensorKind.PeerHello, layout.Self, 0) { Layout = layout.Id }, ReadOnlyMemory<float>.Empty, ct)
            .ConfigureAwait(false);
        _ = Task.Run(async () =>
        {
            try { await channel.ReceiveLoopAsync(new OwnerSink(this, layout.Id, owner)).ConfigureAwait(false); }
            catch (Exception e) when (e is IOException or TensorProtocolException or ObjectDisposedException or OperationCanceledException)
            {
                if (!ct.IsCancellationRequested) _onProblem($"the connection to the owner of slice {owner} closed: {e.Message}");
            }
        }, CancellationToken.None);
        return channel;
    }

    /// <summary>An owner's connection: the slices of weights it sends back.</summary>
    private sealed class OwnerSink(SliceExchange exchange, ushort layout, int owner) : ITensorSink
    {
        public bool TryGetDestination(in TensorHeader header, out Memory<float> destination)
        {
            destination = default;
            if (header.Kind != TensorKind.WeightsSlice || header.Layout != layout || header.Shard != owner) return false;
            lock (exchange._gate)
            {
                if (exchange._layout?.Id != layout || exchange.AssemblyFor(header.Version) is not { } a || a.Got[owner]) return false;
                if (header.Count != exchange._layout.Length(owner)) return false;
                destination = a.Buffer.AsMemory(exchange._layout.Offset(owner), header.Count);
                return true;
            }
        }

        public void Received(in TensorHeader header, Memory<float> payload)
        {
            lock (exchange._gate)
                if (exchange._layout is { } current && current.Id == layout) exchange.Arrived(current, owner, header.Version);
        }
    }

    private sealed record Assembly(float[] Buffer, bool[] Got)
    {
        public int Count;
    }

    /// <summary>Under the gate: the buffer weights of <paramref name="version"/> are put together in (null: that version is old).</summary>
    private Assembly? AssemblyFor(long version)
    {
        // the layout's weights come whole from the coordinator; owners send the versions after it, at most two ahead of what
        // this worker holds (a slow link's slices, then the next ones): anything else is not put together
        long held = Math.Max(_slot.Version, _layout!.Version);
        if (version <= _slot.Version || version > held + 2) return null;
        if (!_assemblies.TryGetValue(version, out var a))
            _assemblies[version] = a = new Assembly(_slot.Rent(), new bool[_layout!.Slices]);
        return a;
    }

    /// <summary>Under the gate: this worker's own slice of the new weights.</summary>
    private void Assemble(ReduceLayout layout, int owner, long version, float[] slice)
    {
        if (AssemblyFor(version) is not { } a || a.Got[owner]) return;
        slice.CopyTo(a.Buffer.AsSpan(layout.Offset(owner), slice.Length));
        Arrived(layout, owner, version);
    }

    /// <summary>Under the gate: a slice is in; the version is published once every slice is.</summary>
    private void Arrived(ReduceLayout layout, int owner, long version)
    {
        if (!_assemblies.TryGetValue(version, out var a) || a.Got[owner]) return;
        a.Got[owner] = true;
        if (++a.Count < layout.Slices) return;
        _slot.Publish(a.Buffer, version);
        foreach (var old in _assemblies.Where(kv => kv.Key <= version).ToList())
        {
            _assemblies.Remove(old.Key);
            if (old.Key < version) _slot.Return(old.Value.Buffer);
        }
        Monitor.PulseAll(_gate);
    }

    /// <summary>The weights of <paramref name="version"/> once every slice is in: waits up to <paramref name="timeout"/> (null: not in time, or the layout changed).</summary>
    public ReadOnlyMemory<float>? WaitForWeights(long version, TimeSpan timeout, Func<long, ReadOnlyMemory<float>?> lease)
    {
        var until = DateTime.UtcNow + timeout;
        lock (_gate)
        {
            while (true)
            {
                if (lease(version) is { } weights) return weights;
                if (_slot.Version > version || DateTime.UtcNow >= until) return null;
                Monitor.Wait(_gate, TimeSpan.FromMilliseconds(50));
            }
        }
    }

    private void CloseConnections()
    {
        _connecting.Cancel();
        foreach (var owner in _owners)
            if (owner is { IsCompletedSuccessfully: true }) owner.Result.Dispose();
            else owner?.ContinueWith(t => t.Result.Dispose(), TaskContinuationOptions.OnlyOnRanToCompletion);
        foreach (var member in _members.Values) member.Dispose();
        _members.Clear();
    }

    public void Dispose()
    {
        lock (_gate)
        {
            CloseConnections();
            _layout = null;
            _disposed = true;
            LayoutChanged(); // member frames waiting for a layout: none will come
        }
    }
}
