namespace DistributedNN.Planning;

/// <summary>
/// Predicts a synchronous data-parallel step as the longest of three bounds:
/// - the critical path: compute (the busiest host's samples × the time per sample) and the gradient phase on its busiest
///   link (bytes / bandwidth, the longer direction, + one latency), overlapped shard by shard on a host with several; then
///   the weight phase on its busiest link; + the sum over the shards and the optimizer where they run (the coordinator for
///   the star; each reducer for its slice, then the coordinator's replica, when sharded);
/// - a worker host's CPU: its compute + the CPU of every byte and message it sends or receives + its reducer's slice;
/// - the coordinator's CPU: the same for its bytes and messages, + its sum and optimizer (the star) or its replica's update.
/// A host's network stack and TLS run while its link carries the bytes, so on a host with a small CPU share the CPU, not
/// the link, holds the step; adding the two (as this model once did) missed the testbed's runs by up to 36% where the
/// larger of them fits all seven within 17%; with the shard-by-shard overlap, a later round of seven within 11%
/// (docs/BENCHMARKS.md, issue 14).
///
/// What it leaves out, and why that is acceptable for choosing a topology and sizing a cluster:
/// - overlap within a shard: a shard's gradient leaves once its backward pass is done (a host with several shards sends the
///   earlier ones while it computes the later ones, which the critical path counts), and the weights only after the sum; a
///   run that streamed layer by layer would beat the model;
/// - contention beyond one link (a switch's backplane, several links sharing a host's NIC): each host has one link of the
///   given rate, which is what the testbed emulates and what a non-blocking switch gives;
/// - TCP slow start and congestion control: connections are long-lived and reused every step, so the window stays open;
/// - straggling, uneven shard sizes (all shards count as ⌈B/K⌉) and the cost of smaller GEMMs on smaller shards: the time
///   per sample is one figure; measure it at the shard size of interest, or calibrate;
/// The sharded step also waits for the coordinator's replica update (the optimizer over all P, after the slice sums are in)
/// before the next step's orders go out: it is counted with the reducers' sum and update.
/// </summary>
public sealed class CostModel(NetworkCost network, MachineFigures machine)
{
    public NetworkCost Network { get; } = network;
    public MachineFigures Machine { get; } = machine;

    public StepPrediction Predict(Topology topology, StepShape shape)
    {
        var links = StepTraffic.Of(topology, Network.Parameters, shape);
        var busiest = links.MaxBy(l => l.Bytes)!;
        var coordinator = links.Single(l => l.Link == LinkLoad.Coordinator);
        var worker = links.Single(l => l.Link == LinkLoad.WorkerHost);
        double compute = shape.SamplesOnBusiestHost * Machine.SecondsPerSample(Network);
        double slice = Machine.ReduceSeconds(shape.Shards, Math.Ceiling((double)Network.Parameters / shape.Hosts));
        double replica = Machine.ReduceSeconds(0, Network.Parameters);
        double reduce = topology == Topology.Star ? Machine.ReduceSeconds(shape.Shards, Network.Parameters) : slice + replica;
        // a host sends each shard's gradient as soon as that shard is done, so with s shards on a host, its link carries the
        // first s − 1 while it computes the rest: the gradients are in after the compute and the last shard's share of the
        // wire, or after the first shard and all of the wire, whichever is later
        int s = shape.MostShardsPerHost;
        double gradients = links.Max(l => l.Gradients.WireSeconds(Machine));
        bool computeHolds = compute + gradients / s >= compute / s + gradients;
        double pathCompute = computeHolds ? compute : compute / s; // the compute the critical path waits for
        double gradientsIn = pathCompute + (computeHolds ? gradients / s : gradients);
        double weights = links.Max(l => l.Weights.WireSeconds(Machine));

        var path = (Bound: StepPrediction.LinkBound, Step: gradientsIn + weights + reduce, Compute: pathCompute, Host: (LinkLoad?)null);
        var workerCpu = (Bound: StepPrediction.WorkerCpuBound, Step: compute + HostCpu(worker) + (topology == Topology.Star ? 0 : slice), Compute: compute, Host: (LinkLoad?)worker);
        var coordinatorCpu = (Bound: StepPrediction.CoordinatorCpuBound, Step: HostCpu(coordinator) + (topology == Topology.Star ? reduce : replica), Compute: 0.0,
            Host: (LinkLoad?)coordinator);
        var bound = new[] { path, workerCpu, coordinatorCpu }.MaxBy(b => b.Step);
        int messages = bound.Host?.Messages ?? 0;
        double bytes = bound.Host?.Bytes ?? 0;
        return new StepPrediction(topology, shape, compute, bound.Step - compute - reduce, reduce, busiest.Link, busiest.Bytes,
            messages, Machine.MessageOverhead(messages), bytes, Machine.ByteCpu(bytes), bound.Bound, bound.Compute);
    }

    /// <summary>The CPU a host spends on its link's bytes and messages in a step, both directions.</summary>
    private double HostCpu(LinkLoad link) => Machine.ByteCpu(link.Bytes) + Machine.MessageOverhead(link.Messages);

    /// <summary>
    /// Samples/s at <paramref name="prediction"/>'s shape over <c>Hosts</c> × what one host does on its own (one process, no
    /// link: the whole batch's compute and the optimizer): 1 is perfect scaling, the same yardstick for every topology.
    /// </summary>
    public double Efficiency(StepPrediction prediction) => prediction.SamplesPerSecond / (prediction.Shape.Hosts * AloneSamplesPerSecond(prediction.Shape.Batch));

    /// <summary>One host training alone: the batch's compute, then the optimizer over every parameter.</summary>
    public double AloneSamplesPerSecond(int batch) =>
        batch / (batch * Machine.SecondsPerSample(Network) + Machine.ReduceSeconds(0, Network.Parameters));
}
