using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Akka.Actor;
using DistributedNN.Protocol;

namespace DistributedNN.Transport;

/// <summary>
/// A step's order and results as small data-plane frames (tcp transport), so that they travel on the connection the
/// weights and gradients use instead of as Akka.Remote messages. The payload's 4-byte values hold integers (and a
/// double in two of them), little-endian:
/// <list type="bullet">
/// <item><see cref="TensorKind.Order"/> (step, version in the header; shard −1): epoch, step in epoch, then the shards.</item>
/// <item><see cref="TensorKind.Result"/> (step, version, shard in the header): loss sum (f64), compute ms (f64), correct,
/// samples, gradient length, then the per-layer activity counts.</item>
/// </list>
/// </summary>
public static class StepNotices
{
    private const int OrderFixed = 2, ResultFixed = 7;

    /// <summary>Values in an order frame for <paramref name="shards"/> shards.</summary>
    public static int OrderCount(int shards) => OrderFixed + shards;

    /// <summary>Values in a result frame for a network of <paramref name="layers"/> layers.</summary>
    public static int ResultCount(int layers) => ResultFixed + layers;

    public static (TensorHeader Header, float[] Payload) Order(ComputeShards order)
    {
        var payload = new float[OrderCount(order.Shards.Length)];
        var v = MemoryMarshal.Cast<float, int>(payload.AsSpan());
        v[0] = order.Epoch;
        v[1] = order.StepInEpoch;
        order.Shards.AsSpan().CopyTo(v[OrderFixed..]);
        return (new TensorHeader(order.Job, order.Step, order.Version, TensorKind.Order, TensorHeader.NoShard, payload.Length), payload);
    }

    /// <summary>The order a frame holds, or null when its values cannot be one (no shard, a negative one).</summary>
    public static ComputeShards? ReadOrder(in TensorHeader header, ReadOnlySpan<float> payload)
    {
        var v = MemoryMarshal.Cast<float, int>(payload);
        if (header.Kind != TensorKind.Order || v.Length <= OrderFixed) return null;
        var shards = v[OrderFixed..].ToArray();
        foreach (int s in shards)
            if (s < 0) return null;
        return new ComputeShards(header.Job, header.Step, header.Version, v[0], v[1], shards);
    }

    public static (TensorHeader Header, float[] Payload) Result(Guid job, long step, long version, int shard, double lossSum, double milliseconds,
        int correct, int samples, int gradientLength, ReadOnlySpan<int> activity)
    {
        var payload = new float[ResultCount(activity.Length)];
        var bytes = MemoryMarshal.AsBytes(payload.AsSpan());
        BinaryPrimitives.WriteDoubleLittleEndian(bytes, lossSum);
        BinaryPrimitives.WriteDoubleLittleEndian(bytes[8..], milliseconds);
        var v = MemoryMarshal.Cast<float, int>(payload.AsSpan());
        v[4] = correct;
        v[5] = samples;
        v[6] = gradientLength;
        activity.CopyTo(v[ResultFixed..]);
        return (new TensorHeader(job, step, version, TensorKind.Result, shard, payload.Length), payload);
    }

    /// <summary>The result a frame holds, as the message a worker would send (checked like one by the coordinator); null if it cannot be one.</summary>
    public static ShardResult? ReadResult(in TensorHeader header, ReadOnlySpan<float> payload, IActorRef worker)
    {
        if (header.Kind != TensorKind.Result || payload.Length < ResultFixed) return null;
        var bytes = MemoryMarshal.AsBytes(payload);
        var v = MemoryMarshal.Cast<float, int>(payload);
        return new ShardResult(header.Job, header.Step, header.Version, header.Shard, worker, BinaryPrimitives.ReadDoubleLittleEndian(bytes),
            v[4], v[5], BinaryPrimitives.ReadDoubleLittleEndian(bytes[8..]), v[6], v[ResultFixed..].ToArray());
    }
}
