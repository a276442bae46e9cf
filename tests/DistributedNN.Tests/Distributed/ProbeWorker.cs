using Akka.Actor;
using Akka.TestKit;
using DistributedNN.Model;
using DistributedNN.Protocol;
using DistributedNN.Training;
using DistributedNN.Transport;

namespace DistributedNN.Tests.Distributed;

/// <summary>
/// A TestProbe standing in for a worker on the akka transport: it registers, answers the StartJob, puts the weights back
/// together from their chunks and reads orders with the real codec, and sends results and gradients as a worker's link
/// would (results through <see cref="WorkFrames"/>, gradients through <see cref="TensorChunker"/>) — or as a broken one.
/// </summary>
internal sealed class ProbeWorker
{
    public static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);
    private readonly IActorRef _coordinator;
    private readonly Dictionary<long, float[]> _weights = new();
    private TensorAssembler? _assembler;

    private ProbeWorker(TestProbe probe, IActorRef coordinator, StartJob job) => (Probe, _coordinator, Job) = (probe, coordinator, job);

    public TestProbe Probe { get; }
    public StartJob Job { get; }
    public IActorRef Ref => Probe.Ref;

    /// <summary>
    /// Registers <paramref name="probe"/> and answers its StartJob with <paramref name="fingerprint"/> (default: the test data's);
    /// <paramref name="beforeReady"/> runs before the answer (an autopilot must be in place before the first order).
    /// </summary>
    public static ProbeWorker Join(TestProbe probe, IActorRef coordinator, string? fingerprint = null, int cores = 1, Action<ProbeWorker>? beforeReady = null)
    {
        coordinator.Tell(new RegisterWorker(probe.Ref, "127.0.0.1", 1, cores), probe.Ref);
        var start = probe.ExpectMsg<StartJob>(Wait);
        var worker = new ProbeWorker(probe, coordinator, start);
        beforeReady?.Invoke(worker);
        var data = TestData.Load();
        probe.Reply(new WorkerReady(start.Job, probe.Ref, fingerprint ?? data.Fingerprint, data.Train.Count, data.Data.Test.Count));
        return worker;
    }

    /// <summary>Registers <paramref name="probe"/> and takes its StartJob, but never says it is ready: it is known, and given no work.</summary>
    public static ProbeWorker RegisterOnly(TestProbe probe, IActorRef coordinator)
    {
        coordinator.Tell(new RegisterWorker(probe.Ref, "127.0.0.1", 1, 1), probe.Ref);
        return new ProbeWorker(probe, coordinator, probe.ExpectMsg<StartJob>(Wait));
    }

    /// <summary>The next order, taking in the weights that come before it.</summary>
    public WorkOrder NextOrder(TimeSpan? wait = null)
    {
        while (true)
        {
            var chunk = Probe.ExpectMsg<TensorChunk>(wait ?? Wait);
            if (chunk.Header.Kind == TensorKind.Order)
                return WorkFrames.ReadOrder(chunk.Header, chunk.Values, WorkCodec.MaxItems) ?? throw new InvalidOperationException($"unreadable order {chunk.Header}");
            Assert.Equal(TensorKind.Weights, chunk.Header.Kind);
            if (_assembler?.Header != chunk.Header) _assembler = new TensorAssembler(chunk.Header, new float[chunk.Header.Count]);
            Assert.True(_assembler.TryAdd(chunk, out var why), why);
            if (_assembler.IsComplete) _weights[chunk.Header.Version] = _assembler.Destination.ToArray();
        }
    }

    /// <summary>The weights of <paramref name="version"/> as they came (they come before the first order that needs them).</summary>
    public float[] Weights(long version) => _weights[version];

    /// <summary>The samples shard <paramref name="shard"/> of the order holds under the job's data plan.</summary>
    public static int ShardCount(DataPlan plan, WorkOrder order, int shard)
    {
        var bounds = new int[plan.ShardCount + 1];
        plan.ShardBounds(plan.Batch(order.Epoch, order.StepInEpoch).Length, bounds);
        return bounds[shard + 1] - bounds[shard];
    }

    /// <summary>A shard's result and its gradient, as a worker sends them; the parameters let a test break them.</summary>
    public void SendShard(WorkOrder order, int shard, float[] gradient, int count, long? step = null, long? version = null, double computeMs = 1.0,
        int? layers = null, bool withGradient = true)
    {
        var result = new WorkResult(WorkKind.Shards, order.Job, step ?? order.Step, version ?? order.Version, shard, new BatchStats(0.5, 0, count), computeMs,
            gradient.Length, new int[layers ?? Job.Network.Activations.Length]);
        var (header, payload) = WorkFrames.Result(result);
        _coordinator.Tell(new TensorChunk(header, 0, payload), Probe.Ref);
        if (!withGradient) return;
        var g = new TensorHeader(result.Job, result.Step, result.Version, TensorKind.ShardGradient, shard, gradient.Length);
        foreach (var chunk in TensorChunker.Split(g, gradient, TensorChunker.SmallObjectChunkFloats)) _coordinator.Tell(chunk, Probe.Ref);
    }

    /// <summary>An evaluation chunk's result: <paramref name="rows"/> samples, none right.</summary>
    public void SendEvaluation(WorkOrder order, int chunk, int rows)
    {
        var result = new WorkResult(WorkKind.Evaluation, order.Job, order.Step, order.Version, chunk, new BatchStats(0.5 * rows, 0, rows), 0.1, 0, []);
        var (header, payload) = WorkFrames.Result(result);
        _coordinator.Tell(new TensorChunk(header, 0, payload), Probe.Ref);
    }
}
