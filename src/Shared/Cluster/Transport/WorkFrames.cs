using System.Runtime.InteropServices;
using DistributedNN.Protocol;

namespace DistributedNN.Transport;

/// <summary>
/// Orders and results as tensor frames — the same frames on a tcp connection (<see cref="TensorChannel"/>) and as Akka
/// chunks (<see cref="TensorChunk"/>): kind <see cref="TensorKind.Order"/> or <see cref="TensorKind.Result"/>, the header's
/// job, step and version those of the order or result, the payload the <see cref="WorkCodec"/> bytes padded to whole floats.
/// </summary>
public static class WorkFrames
{
    /// <summary>Floats of the frame of an order of <paramref name="items"/> items.</summary>
    public static int OrderCount(int items) => Floats(WorkCodec.OrderBytes(items));

    /// <summary>Floats of the frame of a result with <paramref name="layers"/> activity counts.</summary>
    public static int ResultCount(int layers) => Floats(WorkCodec.ResultBytes(layers));

    private static int Floats(int bytes) => (bytes + sizeof(float) - 1) / sizeof(float);

    public static (TensorHeader Header, float[] Payload) Order(WorkOrder order)
    {
        var payload = new float[OrderCount(order.Items.Length)];
        WorkCodec.Write(order, MemoryMarshal.AsBytes(payload.AsSpan()));
        return (new TensorHeader(order.Job, order.Step, order.Version, TensorKind.Order, TensorHeader.NoShard, payload.Length), payload);
    }

    public static (TensorHeader Header, float[] Payload) Result(WorkResult result)
    {
        var payload = new float[ResultCount(result.Activity.Length)];
        WorkCodec.Write(result, MemoryMarshal.AsBytes(payload.AsSpan()));
        return (new TensorHeader(result.Job, result.Step, result.Version, TensorKind.Result, result.Item, payload.Length), payload);
    }

    /// <summary>The order a frame holds, or null when it cannot be one or its header disagrees with it.</summary>
    public static WorkOrder? ReadOrder(in TensorHeader header, ReadOnlySpan<float> payload, int maxItems)
    {
        if (header.Kind != TensorKind.Order) return null;
        var order = WorkCodec.ReadOrder(MemoryMarshal.AsBytes(payload), maxItems);
        return order is not null && order.Job == header.Job && order.Step == header.Step && order.Version == header.Version ? order : null;
    }

    /// <summary>The result a frame holds, or null when it cannot be one or its header disagrees with it.</summary>
    public static WorkResult? ReadResult(in TensorHeader header, ReadOnlySpan<float> payload, int maxLayers)
    {
        if (header.Kind != TensorKind.Result) return null;
        var result = WorkCodec.ReadResult(MemoryMarshal.AsBytes(payload), maxLayers);
        return result is not null && result.Job == header.Job && result.Step == header.Step && result.Version == header.Version
            && result.Item == header.Shard ? result : null;
    }
}
