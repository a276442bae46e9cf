using System.Collections.Concurrent;
using DistributedNN.Protocol;

namespace DistributedNN.Transport;

/// <summary>
/// A worker's end of the tcp transport: the connection its coordinator opened to its <see cref="DataPlaneEndpoint"/>,
/// whose receive loop hands this link the job's frames — weights filed (<see cref="WeightsSlot"/>), orders queued;
/// results and gradients go back as frames, sent from the order loop's thread.
/// </summary>
internal sealed class TcpCoordinatorLink : ICoordinatorLink, ITensorSink
{
    private readonly LinkSettings _settings;
    private readonly DataPlaneEndpoint _endpoint;
    private readonly Action<string> _onProblem;
    private readonly WeightsSlot _weights;
    private readonly BlockingCollection<WorkOrder> _orders = new();
    private readonly float[][] _lanes;
    private volatile bool _closed;

    public TcpCoordinatorLink(LinkSettings settings, int lanes, DataPlaneEndpoint endpoint, Action<string> onProblem)
    {
        _settings = settings;
        _endpoint = endpoint;
        _onProblem = onProblem;
        _weights = new WeightsSlot(settings.ParameterCount);
        _lanes = Enumerable.Range(0, lanes).Select(_ => GC.AllocateUninitializedArray<float>(settings.ParameterCount, pinned: true)).ToArray();
        endpoint.Attach(this);
    }

    public bool IsClosed => _closed;

    public WorkOrder? TakeOrder(int timeoutMs) => OrderQueue.Take(_orders, timeoutMs);

    public ReadOnlyMemory<float>? Weights(long version) => _weights.Lease(version);

    public Memory<float> GradientBuffer(int shard, int lane) => _lanes[lane];

    public bool Send(WorkResult result, int lane)
    {
        if (_endpoint.Channel is not { } channel) return false;
        try
        {
            var (header, payload) = WorkFrames.Result(result);
            channel.SendAsync(header, payload).AsTask().GetAwaiter().GetResult();
            if (result.Kind == WorkKind.Shards)
            {
                var gradient = new TensorHeader(result.Job, result.Step, result.Version, _settings.Gradients.GradientKind(), result.Item, _lanes[lane].Length);
                channel.SendAsync(gradient, _lanes[lane]).AsTask().GetAwaiter().GetResult();
            }
            return true;
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or System.Net.Sockets.SocketException)
        {
            _onProblem($"could not send the result of item {result.Item} of step {result.Step}: {e.Message}");
            return false;
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
        _endpoint.Detach(this);
        _orders.Dispose();
    }
}
