using DistributedNN.Protocol;

namespace DistributedNN.Transport;

/// <summary>
/// A worker over its data-plane connection: weights and orders go out as frames, in that order, on the one ordered
/// stream; results and their gradients come back on it, read straight into pooled buffers by the channel's receive loop.
/// </summary>
internal sealed class TcpWorkerLink : IWorkerLink, ITensorSink
{
    private readonly TensorChannel _channel;
    private readonly LinkSettings _settings;
    private readonly GradientBufferPool _pool;
    private readonly IWorkerLinkEvents _events;
    private readonly ResultPairing _pairing;
    private readonly List<Task> _sends = new();
    private long _weightsSent = -1;
    private volatile bool _closing;

    public TcpWorkerLink(TensorChannel channel, LinkSettings settings, GradientBufferPool pool, IWorkerLinkEvents events)
    {
        _channel = channel;
        _settings = settings;
        _pool = pool;
        _events = events;
        _pairing = new ResultPairing(settings.ParameterCount);
        _ = Task.Run(ReceiveAsync);
    }

    private async Task ReceiveAsync()
    {
        string reason = "closed by the worker";
        try { await _channel.ReceiveLoopAsync(this).ConfigureAwait(false); }
        catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException or InvalidOperationException)
        {
            reason = e.Message;
        }
        if (!_closing) _events.Lost(this, $"data plane lost: {reason}");
    }

    public void SendWeights(long step, long version, float[] weights)
    {
        if (_weightsSent == version) return;
        var header = new TensorHeader(_settings.Job, step, version, _settings.Weights.WeightsKind(), TensorHeader.NoShard, weights.Length);
        Track(_channel.SendAsync(header, weights));
        _weightsSent = version;
    }

    public void SendFrame(TensorHeader header, ReadOnlyMemory<float> payload) => Track(_channel.SendAsync(header, payload));

    public void WeightsHeld(long version) => _weightsSent = version;

    public string? SendOrder(WorkOrder order)
    {
        if (_channel.IsClosed) return "its data-plane connection is closed";
        var (header, payload) = WorkFrames.Order(order);
        Track(_channel.SendAsync(header, payload));
        return null;
    }

    // a failed send closes the channel, and the receive loop reports the loss
    private void Track(ValueTask send)
    {
        _sends.RemoveAll(t => t.IsCompleted);
        _sends.Add(send.AsTask().ContinueWith(_ => { }, TaskScheduler.Default));
    }

    public Task Flushed
    {
        get
        {
            _sends.RemoveAll(t => t.IsCompleted);
            return _sends.Count == 0 ? Task.CompletedTask : Task.WhenAll(_sends.ToArray());
        }
    }

    public void Receive(TensorChunk chunk) { }

    public SharedFiles? Files => null;
    public long BytesSent => _channel.BytesSent;
    public long BytesReceived => _channel.BytesReceived;

    // ---- the receive loop's side ----

    public bool TryGetDestination(in TensorHeader header, out Memory<float> destination)
    {
        destination = default;
        if (header.Job != _settings.Job) return false;
        if (header.Kind == TensorKind.Result && header.Count <= WorkFrames.ResultCount(_settings.Layers)) destination = new float[header.Count];
        else if (header.Kind == _settings.Gradients.GradientKind() && header.Count == _settings.ParameterCount) destination = _pool.Rent();
        else if (header.Kind == TensorKind.SliceSum && header.Count > 0 && header.Count <= _settings.ParameterCount) destination = _pool.Rent().AsMemory(0, header.Count);
        return !destination.IsEmpty;
    }

    public void Received(in TensorHeader header, Memory<float> payload)
    {
        if (header.Kind == TensorKind.Result)
        {
            if (WorkFrames.ReadResult(header, payload.Span, _settings.Layers) is not { } read)
                _events.Violated(this, "an unreadable result frame");
            else
            {
                var result = read with { Layout = header.Layout }; // the reduce layout a sharded shard's gradient went by
                bool alone = _pairing.OnResult(result, out var violation);
                if (violation is not null) _events.Violated(this, violation);
                if (alone) _events.Delivered(this, result, null);
            }
            return;
        }
        var buffer = System.Runtime.InteropServices.MemoryMarshal.TryGetArray<float>(payload, out var segment) ? segment.Array! : null;
        if (_pairing.OnGradient(header, out var unpaired) is { } owner) _events.Delivered(this, owner, buffer);
        else
        {
            _pool.Return(buffer);
            _events.Violated(this, unpaired!);
        }
    }

    public void Dispose()
    {
        _closing = true;
        _channel.Dispose();
    }
}
