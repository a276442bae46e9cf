using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Akka.Actor;
using DistributedNN.Protocol;

namespace DistributedNN.Transport;

/// <summary>
/// A worker's end of the akka transport: its actor hands over the chunks the coordinator sends (weights, put back
/// together; orders, queued); results and gradients go back as chunks told to the coordinator from the worker actor.
/// </summary>
internal sealed class AkkaCoordinatorLink(LinkSettings settings, int lanes, IActorRef coordinator, IActorRef worker, Action<string> onProblem)
    : ICoordinatorLink
{
    private readonly WeightsSlot _weights = new(settings.ParameterCount);
    private readonly BlockingCollection<WorkOrder> _orders = new();
    private readonly float[][] _lanes = Enumerable.Range(0, lanes).Select(_ => GC.AllocateUninitializedArray<float>(settings.ParameterCount, pinned: true)).ToArray();
    private TensorAssembler? _assembler;
    private volatile bool _closed;

    public bool IsClosed => _closed;

    public WorkOrder? TakeOrder(int timeoutMs) => OrderQueue.Take(_orders, timeoutMs);

    public ReadOnlyMemory<float>? Weights(long version) => _weights.Lease(version);

    public Memory<float> GradientBuffer(int shard, int lane) => _lanes[lane];

    public bool Send(WorkResult result, int lane)
    {
        if (_closed) return false;
        var (header, payload) = WorkFrames.Result(result);
        coordinator.Tell(new TensorChunk(header, 0, payload), worker);
        if (result.Kind != WorkKind.Shards) return true;
        var gradient = new TensorHeader(result.Job, result.Step, result.Version, TensorKind.ShardGradient, result.Item, _lanes[lane].Length);
        foreach (var chunk in TensorChunker.Split(gradient, _lanes[lane], TensorChunker.SmallObjectChunkFloats)) coordinator.Tell(chunk, worker);
        return true;
    }

    /// <summary>On the worker actor's thread: a chunk from the coordinator.</summary>
    public void Receive(TensorChunk chunk)
    {
        var h = chunk.Header;
        if (h.Job != settings.Job || _closed) return;
        if (h.Kind == TensorKind.Order)
        {
            var order = chunk.Offset == 0 && chunk.Values.Length == h.Count ? WorkFrames.ReadOrder(h, chunk.Values, WorkCodec.MaxItems) : null;
            if (order is null) onProblem($"refused an unreadable order chunk ({h})");
            else OrderQueue.Add(_orders, order);
            return;
        }
        if (h.Kind != TensorKind.Weights || h.Count != settings.ParameterCount) return;
        if (_assembler is null || _assembler.Header != h)
        {
            Abandon();
            _assembler = new TensorAssembler(h, _weights.Rent());
        }
        if (!_assembler.TryAdd(chunk, out var why))
        {
            onProblem($"refused a weights chunk: {why}");
            return;
        }
        if (!_assembler.IsComplete) return;
        MemoryMarshal.TryGetArray<float>(_assembler.Destination, out var done);
        _assembler = null;
        _weights.Publish(done.Array!, h.Version);
    }

    private void Abandon()
    {
        if (_assembler is not null && MemoryMarshal.TryGetArray<float>(_assembler.Destination, out var old)) _weights.Return(old.Array!);
        _assembler = null;
    }

    public void Close()
    {
        _closed = true;
        OrderQueue.Complete(_orders);
    }

    public void Dispose()
    {
        Close();
        _orders.Dispose();
    }
}
