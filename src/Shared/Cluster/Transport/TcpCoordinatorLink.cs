using System.Collections.Concurrent;
using DistributedNN.Protocol;

namespace DistributedNN.Transport;

/// <summary>
/// A worker's end of the tcp transport: the connection its coordinator opened to its <see cref="DataPlaneEndpoint"/>,
/// whose receive loop hands this link the job's frames — weights filed (<see cref="WeightsSlot"/>), orders queued;
/// results and gradients go back as frames, sent from the order loop's thread. In a sharded job (a
/// <see cref="ReduceLayout"/> came) a shard's gradient goes slice by slice to the owners instead (<see cref="SliceExchange"/>),
/// the weights come from them, and this worker's own slice's sums go back here.
/// </summary>
internal sealed class TcpCoordinatorLink : ICoordinatorLink, ITensorSink
{
    private readonly LinkSettings _settings;
    private readonly DataPlaneEndpoint _endpoint;
    private readonly Action<string> _onProblem;
    private readonly WeightsSlot _weights;
    private readonly BlockingCollection<WorkOrder> _orders = new();
    private readonly float[][] _lanes;
    private readonly SliceExchange _exchange;
    private readonly Lock _sendGate = new(); // a result and its tensor leave together, whoever sends them
    private volatile bool _closed;

    /// <summary>How long an order waits for the slices of its weights (sharded) before it is skipped as stale.</summary>
    private static readonly TimeSpan SliceWait = TimeSpan.FromSeconds(15);
    private const int MaxLayoutFloats = 64 * 1024;

    public TcpCoordinatorLink(LinkSettings settings, int lanes, DataPlaneEndpoint endpoint, Action<string> onProblem)
    {
        _settings = settings;
        _endpoint = endpoint;
        _onProblem = onProblem;
        _weights = new WeightsSlot(settings.ParameterCount);
        _lanes = Enumerable.Range(0, lanes).Select(_ => GC.AllocateUninitializedArray<float>(settings.ParameterCount, pinned: true)).ToArray();
        _exchange = new SliceExchange(settings, _weights, onProblem, SendSum);
        endpoint.Attach(this);
        endpoint.AttachPeers(_exchange.ServeAsync);
    }

    public bool IsClosed => _closed;

    public WorkOrder? TakeOrder(int timeoutMs) => OrderQueue.Take(_orders, timeoutMs);

    public ReadOnlyMemory<float>? Weights(long version) =>
        _exchange.Layout is null ? _weights.Lease(version) : _exchange.WaitForWeights(version, SliceWait, _weights.Lease);

    public Memory<float> GradientBuffer(int shard, int lane) => _lanes[lane];

    public bool Send(WorkResult result, int lane)
    {
        if (_endpoint.Channel is not { } channel) return false;
        try
        {
            bool sharded = result.Kind == WorkKind.Shards && _exchange.Layout is not null;
            if (sharded) result = Scatter(result, _lanes[lane]);
            var (header, payload) = WorkFrames.Result(result);
            lock (_sendGate)
            {
                channel.SendAsync(header with { Layout = result.Layout }, payload).AsTask().GetAwaiter().GetResult();
                if (result.Kind == WorkKind.Shards && !sharded)
                {
                    var gradient = new TensorHeader(result.Job, result.Step, result.Version, _settings.Gradients.GradientKind(), result.Item, _lanes[lane].Length);
                    channel.SendAsync(gradient, _lanes[lane]).AsTask().GetAwaiter().GetResult();
                }
            }
            return true;
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or System.Net.Sockets.SocketException)
        {
            _onProblem($"could not send the result of item {result.Item} of step {result.Step}: {e.Message}");
            return false;
        }
    }

    /// <summary>
    /// A shard's gradient to the slice owners; the result then names their layout and announces no gradient. A gradient
    /// with NaN or infinity is not sent: its result reports a loss that is not finite, which the coordinator redoes or stops on.
    /// </summary>
    private WorkResult Scatter(WorkResult result, float[] gradient)
    {
        if (!Numerics.Elementwise.AllFinite(gradient)) return result with { GradientLength = 0, Stats = result.Stats with { LossSum = double.NaN } };
        ushort layout = _exchange.Scatter(result.Step, result.Version, result.Item, result.Stats.Count, gradient, SliceWait);
        return result with { GradientLength = 0, Layout = layout };
    }

    /// <summary>This worker's slice's sum of a step, after its result, to the coordinator (on the reducer's thread).</summary>
    private void SendSum(WorkResult result, float[] sum)
    {
        if (_endpoint.Channel is not { } channel) return;
        var (header, payload) = WorkFrames.Result(result);
        lock (_sendGate)
        {
            channel.SendAsync(header, payload).AsTask().GetAwaiter().GetResult();
            channel.SendAsync(new TensorHeader(result.Job, result.Step, result.Version, TensorKind.SliceSum, result.Item, sum.Length), sum).AsTask().GetAwaiter().GetResult();
        }
    }

    public void Receive(TensorChunk chunk) { }

    // ---- the receive loop's side ----

    public bool TryGetDestination(in TensorHeader header, out Memory<float> destination)
    {
        destination = default;
        if (header.Job != _settings.Job || _closed) return false;
        if (header.Kind == TensorKind.Order && header.Count <= WorkFrames.OrderCount(WorkCodec.MaxItems)) destination = new float[header.Count];
        else if (header.Kind == _settings.Weights.WeightsKind() && header.Count == _settings.ParameterCount) destination = _weights.Rent();
        else if (header.Kind == TensorKind.Layout && header.Count <= MaxLayoutFloats) destination = new float[header.Count];
        else if (header.Kind == TensorKind.SliceState) destination = _exchange.StateDestination(header);
        return !destination.IsEmpty;
    }

    public void Received(in TensorHeader header, Memory<float> payload)
    {
        if (header.Kind == TensorKind.Order)
        {
            if (WorkFrames.ReadOrder(header, payload.Span, WorkCodec.MaxItems) is { } order) OrderQueue.Add(_orders, order);
            else _onProblem($"refused an unreadable order frame ({header})");
            return;
        }
        if (header.Kind == TensorKind.Layout)
        {
            var layout = ReduceLayout.Read(System.Runtime.InteropServices.MemoryMarshal.AsBytes(payload.Span), _settings.ParameterCount, TensorHandshake.TokenSize);
            if (layout is not null && layout.Job == _settings.Job && layout.Id == header.Layout) _exchange.OnLayout(layout);
            else _onProblem($"refused an unreadable reduce layout ({header})");
            return;
        }
        if (header.Kind == TensorKind.SliceState)
        {
            _exchange.StateReceived(header);
            return;
        }
        if (System.Runtime.InteropServices.MemoryMarshal.TryGetArray<float>(payload, out var segment)) _weights.Publish(segment.Array!, header.Version);
    }

    public void Close()
    {
        _closed = true;
        OrderQueue.Complete(_orders);
    }

    public void Dispose()
    {
        Close();
        _endpoint.AttachPeers(null);
        _exchange.Dispose();
        _endpoint.Detach(this);
        _orders.Dispose();
    }
}
