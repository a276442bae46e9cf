using System.Runtime.InteropServices;
using Akka.Actor;
using DistributedNN.Protocol;

namespace DistributedNN.Transport;

/// <summary>
/// A worker over Akka.Remote: weights, orders, results and gradients as chunks of at most 64 KiB (under Akka's frame
/// size, off the large-object heap), sent from the coordinator actor to the worker actor and back, in order. The
/// coordinator hands this link the chunks its worker sends (<see cref="Receive"/>, on the actor's thread).
/// </summary>
internal sealed class AkkaWorkerLink(IActorRef worker, IActorRef coordinator, LinkSettings settings, GradientBufferPool pool, IWorkerLinkEvents events)
    : IWorkerLink
{
    private readonly ResultPairing _pairing = new(settings.ParameterCount);
    private TensorAssembler? _gradient;
    private long _weightsSent = -1, _bytesSent, _bytesReceived;

    public SharedFiles? Files => null;
    public Task Flushed => Task.CompletedTask; // the chunks hold copies
    public long BytesSent => Interlocked.Read(ref _bytesSent);
    public long BytesReceived => Interlocked.Read(ref _bytesReceived);

    public void SendWeights(long step, long version, float[] weights)
    {
        if (_weightsSent == version) return;
        var header = new TensorHeader(settings.Job, step, version, TensorKind.Weights, TensorHeader.NoShard, weights.Length);
        foreach (var chunk in TensorChunker.Split(header, weights, TensorChunker.SmallObjectChunkFloats)) worker.Tell(chunk, coordinator);
        Interlocked.Add(ref _bytesSent, header.PayloadBytes);
        _weightsSent = version;
    }

    public void SendFrame(TensorHeader header, ReadOnlyMemory<float> payload) => throw new NotSupportedException(ShardedNeedsTcp);

    public void WeightsHeld(long version) => throw new NotSupportedException(ShardedNeedsTcp);

    private const string ShardedNeedsTcp = "the sharded topology needs the tcp transport";

    public string? SendOrder(WorkOrder order)
    {
        var (header, payload) = WorkFrames.Order(order);
        worker.Tell(new TensorChunk(header, 0, payload), coordinator);
        return null;
    }

    public void Receive(TensorChunk chunk)
    {
        var h = chunk.Header;
        if (h.Job != settings.Job) return;
        if (h.Kind == TensorKind.Result) OnResult(chunk);
        else if (h.Kind == TensorKind.ShardGradient && h.Count == settings.ParameterCount) OnGradientChunk(chunk);
        else events.Violated(this, $"an unexpected chunk ({h})");
    }

    private void OnResult(TensorChunk chunk)
    {
        var result = chunk.Offset == 0 && chunk.Values.Length == chunk.Header.Count
            ? WorkFrames.ReadResult(chunk.Header, chunk.Values, settings.Layers) : null;
        if (result is null)
        {
            events.Violated(this, "an unreadable result chunk");
            return;
        }
        bool alone = _pairing.OnResult(result, out var violation);
        if (violation is not null) events.Violated(this, violation);
        if (alone) events.Delivered(this, result, null);
    }

    // one gradient at a time: the worker sends each whole, after its result
    private void OnGradientChunk(TensorChunk chunk)
    {
        if (_gradient is null || _gradient.Header != chunk.Header)
        {
            ReleaseGradient();
            _gradient = new TensorAssembler(chunk.Header, pool.Rent());
        }
        if (!_gradient.TryAdd(chunk, out var why))
        {
            events.Violated(this, $"a bad gradient chunk: {why}");
            return;
        }
        Interlocked.Add(ref _bytesReceived, (long)chunk.Values.Length * sizeof(float));
        if (!_gradient.IsComplete) return;
        var done = _gradient;
        _gradient = null;
        MemoryMarshal.TryGetArray<float>(done.Destination, out var buffer);
        if (_pairing.OnGradient(done.Header, out var unpaired) is { } owner) events.Delivered(this, owner, buffer.Array);
        else
        {
            pool.Return(buffer.Array);
            events.Violated(this, unpaired!);
        }
    }

    private void ReleaseGradient()
    {
        if (_gradient is not null && MemoryMarshal.TryGetArray<float>(_gradient.Destination, out var old)) pool.Return(old.Array);
        _gradient = null;
    }

    public void Dispose() => ReleaseGradient();
}
