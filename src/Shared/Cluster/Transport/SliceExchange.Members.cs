using DistributedNN.Protocol;

namespace DistributedNN.Transport;

/// <summary>The members' side of a <see cref="SliceExchange"/>: the connections other workers open to this slice's owner.</summary>
internal sealed partial class SliceExchange
{
    /// <summary>Serves a connection another worker opened to this one (<see cref="DataPlaneEndpoint.AttachPeers"/>).</summary>
    public async Task ServeAsync(TensorChannel channel)
    {
        try { await channel.ReceiveLoopAsync(new MemberSink(this, channel)).ConfigureAwait(false); }
        catch (Exception e) when (e is IOException or TensorProtocolException or ObjectDisposedException or OperationCanceledException) { }
        lock (_gate)
            foreach (var (member, ch) in _members.ToList())
                if (ReferenceEquals(ch, channel)) _members.Remove(member);
    }

    /// <summary>A member's connection: its hello (then the newest slice if the member missed it), its gradient slices.</summary>
    private sealed class MemberSink(SliceExchange exchange, TensorChannel channel) : ITensorSink
    {
        private float[] _part = [];

        public ValueTask ReadyAsync(TensorHeader header) => header.Job == exchange._settings.Job ? exchange.AwaitLayoutAsync(header.Layout) : ValueTask.CompletedTask;

        public bool TryGetDestination(in TensorHeader header, out Memory<float> destination)
        {
            destination = default;
            lock (exchange._gate)
            {
                if (header.Job != exchange._settings.Job || exchange._layout is not { } layout || layout.Id != header.Layout) return false;
                if (header.Kind == TensorKind.PeerHello && header.Count == 0 && (uint)header.Shard < (uint)layout.Slices && header.Shard != layout.Self)
                {
                    exchange.Welcome(header.Shard, channel);
                    return false;
                }
                if (header.Kind != TensorKind.GradientSlice || header.Count != layout.Length(layout.Self) + 1) return false;
            }
            if (_part.Length != header.Count) _part = GC.AllocateUninitializedArray<float>(header.Count, pinned: true);
            destination = _part;
            return true;
        }

        public void Received(in TensorHeader header, Memory<float> payload)
        {
            var span = payload.Span;
            int samples = BitConverter.SingleToInt32Bits(span[^1]);
            if (samples < 0) return;
            lock (exchange._gate) exchange.Offer(header.Layout, header.Step, header.Version, header.Shard, span[..^1], samples);
        }
    }

    /// <summary>
    /// Completes once layout <paramref name="id"/> is this worker's, or cannot become it (an older one, a disposed exchange),
    /// or after <see cref="LayoutWait"/>. The coordinator sends a new layout to every worker at once, so a quick member's
    /// hello and first gradient slices can come before this worker has read it (a worker that just joined, cold): frames
    /// naming a layout newer than this worker's wait for it a while rather than being dropped, or this worker's slice would
    /// never have all its parts. The wait is asynchronous: the layout comes on another connection, possibly through the
    /// same socket-engine thread.
    /// </summary>
    private async ValueTask AwaitLayoutAsync(ushort id)
    {
        var until = DateTime.UtcNow + LayoutWait;
        while (true)
        {
            Task changed;
            lock (_gate)
            {
                if (_disposed || _layout?.Id == id || !IsNewer(id, _layout?.Id)) return;
                changed = _layoutChanged.Task;
                FramesAwaitingLayout++;
            }
            try
            {
                var left = until - DateTime.UtcNow;
                if (left <= TimeSpan.Zero) return;
                await changed.WaitAsync(left).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                return;
            }
            finally
            {
                lock (_gate) FramesAwaitingLayout--;
            }
        }
    }

    /// <summary>Completed (and replaced) at each new layout and at the dispose: what <see cref="AwaitLayoutAsync"/> waits on.</summary>
    private TaskCompletionSource _layoutChanged = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Under the gate: wakes the frames waiting in <see cref="AwaitLayoutAsync"/>.</summary>
    private void LayoutChanged()
    {
        _layoutChanged.TrySetResult();
        _layoutChanged = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>Member frames waiting for a layout this worker has not read yet (what the tests watch).</summary>
    internal int FramesAwaitingLayout
    {
        get { lock (_gate) return _awaiting; }
        private set => _awaiting = value;
    }
    private int _awaiting;

    /// <summary>How long a member's frame naming a layout this worker has not read yet waits for it.</summary>
    internal static readonly TimeSpan LayoutWait = TimeSpan.FromSeconds(10);

    /// <summary>Whether layout <paramref name="id"/> comes after <paramref name="current"/> (ids count 1…65535 and wrap).</summary>
    internal static bool IsNewer(ushort id, ushort? current) => id != 0 && (current is not { } c || (ushort)(id - c) is > 0 and < 32768);

    /// <summary>Under the gate: a member's connection for the current layout; it gets the slice's newest weights if it joined after they left.</summary>
    private void Welcome(int member, TensorChannel channel)
    {
        _members[member] = channel;
        if (_reducer is { } r && _layout is { } layout && r.Version > layout.Version)
            _ = channel.SendAsync(new TensorHeader(_settings.Job, _lastStep, r.Version, TensorKind.WeightsSlice, layout.Self, r.Length) { Layout = layout.Id }, r.Weights).AsTask();
    }
}
