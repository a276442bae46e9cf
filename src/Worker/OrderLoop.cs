using System.Diagnostics;
using DistributedNN.Model;
using DistributedNN.Protocol;
using DistributedNN.Training;
using DistributedNN.Transport;
using Serilog;

namespace DistributedNN.Worker;

/// <summary>Tests only: what a lying worker does to shard <paramref name="shard"/> of step <paramref name="step"/>'s gradient before sending it.</summary>
internal delegate void ShardTamper(long step, int shard, Span<float> gradient);

/// <summary>
/// A worker's one place of computation, on a thread of its own (dnn-orders): takes each order from the job's link,
/// computes its shards — as many side by side as the worker has lanes (cores), each lane with its own
/// <see cref="ShardComputer"/> — or its evaluation chunks with the weights the link holds for the order's version, and
/// sends each result (and gradient) back on the link. An order for weights the link no longer holds is stale: its items
/// went to other workers, and it is skipped. Whatever the transport, nothing here waits on the worker actor, nor the
/// actor on it: the loop owns the link once it runs and frees it when it ends.
/// </summary>
public sealed class OrderLoop : IDisposable
{
    private readonly ICoordinatorLink _link;
    private readonly ShardComputer[] _lanes;
    private readonly Guid _job;
    private readonly Thread _thread;
    private readonly BatchStats[] _stats;
    private readonly double[] _ms;
    private readonly ShardTamper? _tamper;
    private volatile bool _stopping;

    public OrderLoop(ICoordinatorLink link, ShardComputer[] lanes, Guid job) : this(link, lanes, job, null) { }

    internal OrderLoop(ICoordinatorLink link, ShardComputer[] lanes, Guid job, ShardTamper? tamper)
    {
        (_link, _lanes, _job, _tamper) = (link, lanes, job, tamper);
        _stats = new BatchStats[lanes.Length];
        _ms = new double[lanes.Length];
        _thread = new Thread(Run) { IsBackground = true, Name = "dnn-orders" };
        _thread.Start();
    }

    private void Run()
    {
        try { Serve(); }
        finally { _link.Dispose(); } // the link's buffers and files go when nothing computes into them any more
    }

    private void Serve()
    {
        while (!_stopping && !_link.IsClosed)
        {
            if (_link.TakeOrder(250) is not { } order || order.Job != _job) continue;
            try
            {
                if (_link.Weights(order.Version) is not { } weights) continue; // stale: the coordinator has moved on
                if (order.Kind == WorkKind.Shards) ComputeShards(order, weights);
                else Evaluate(order, weights);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // this order gets no results (its deadline hands it out again); the loop goes on
                Log.Error(e, "Cannot compute the order for step {Step} ({Kind} {Items})", order.Step, order.Kind, string.Join(",", order.Items));
            }
        }
    }

    private void ComputeShards(WorkOrder order, ReadOnlyMemory<float> weights)
    {
        for (int first = 0; first < order.Items.Length; first += _lanes.Length)
        {
            int n = Math.Min(_lanes.Length, order.Items.Length - first);
            if (n == 1) Compute(order, first, 0, weights);
            else Parallel.For(0, n, new ParallelOptions { MaxDegreeOfParallelism = n }, lane => Compute(order, first, lane, weights));
            for (int lane = 0; lane < n; lane++)
            {
                var result = new WorkResult(WorkKind.Shards, order.Job, order.Step, order.Version, order.Items[first + lane], _stats[lane], _ms[lane],
                    _lanes[lane].Spec.ParameterCount, _lanes[lane].Activity.ToArray());
                if (!_link.Send(result, lane)) return;
            }
        }
    }

    private void Compute(WorkOrder order, int first, int lane, ReadOnlyMemory<float> weights)
    {
        long start = Stopwatch.GetTimestamp();
        int shard = order.Items[first + lane];
        var gradient = _link.GradientBuffer(shard, lane);
        _stats[lane] = _lanes[lane].ComputeShard(weights.Span, order.Epoch, order.StepInEpoch, shard, gradient.Span, order.Version);
        _tamper?.Invoke(order.Step, shard, gradient.Span);
        _ms[lane] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
    }

    private void Evaluate(WorkOrder order, ReadOnlyMemory<float> weights)
    {
        foreach (int chunk in order.Items)
        {
            long start = Stopwatch.GetTimestamp();
            var stats = _lanes[0].EvaluateChunk(weights.Span, chunk, order.Version);
            var result = new WorkResult(WorkKind.Evaluation, order.Job, order.Step, order.Version, chunk, stats, Stopwatch.GetElapsedTime(start).TotalMilliseconds, 0, []);
            if (!_link.Send(result, 0)) return;
        }
    }

    /// <summary>Closes the link's order side; the loop finishes the order in hand, then frees the link (nobody waits for it).</summary>
    public void Dispose()
    {
        _stopping = true;
        _link.Close();
    }
}
