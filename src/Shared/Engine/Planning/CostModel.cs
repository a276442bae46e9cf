namespace DistributedNN.Planning;

/// <summary>
/// Predicts a synchronous data-parallel step: step = compute (the busiest host's samples × the time per sample) + each
/// phase's time on its busiest link (bytes / bandwidth + messages × per-message overhead + one latency) + the sum over the
/// shards and the optimizer where they run (the coordinator for the star, each reducer for its slice when sharded).
///
/// What it leaves out, and why that is acceptable for choosing a topology and sizing a cluster:
/// - overlap of compute and communication: today's step sends nothing until a shard's backward pass is done, and the weights
///   only after the sum, so the phases really follow each other; a run that streams layer by layer would beat the model;
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
        var gradients = links.MaxBy(l => l.Gradients.Seconds(Machine))!.Gradients;
        var weights = links.MaxBy(l => l.Weights.Seconds(Machine))!.Weights;
        var busiest = links.MaxBy(l => l.Bytes)!;
        double compute = shape.SamplesOnBusiestHost * Machine.SecondsPerSample(Network);
        double reduce = topology == Topology.Star
            ? Machine.ReduceSeconds(shape.Shards, Network.Parameters)
            : Machine.ReduceSeconds(shape.Shards, Math.Ceiling((double)Network.Parameters / shape.Hosts)) + Machine.ReduceSeconds(0, Network.Parameters);
        int messages = gradients.Messages + weights.Messages;
        double bytes = gradients.Bytes + weights.Bytes;
        return new StepPrediction(topology, shape, compute, gradients.Seconds(Machine) + weights.Seconds(Machine), reduce,
            busiest.Link, busiest.Bytes, messages, Machine.MessageOverhead(messages), bytes, Machine.ByteCpu(bytes));
    }

    /// <summary>
    /// Samples/s at <paramref name="prediction"/>'s shape over <c>Hosts</c> × what one host does on its own (one process, no
    /// link: the whole batch's compute and the optimizer): 1 is perfect scaling, the same yardstick for every topology.
    /// </summary>
    public double Efficiency(StepPrediction prediction) => prediction.SamplesPerSecond / (prediction.Shape.Hosts * AloneSamplesPerSecond(prediction.Shape.Batch));

    /// <summary>One host training alone: the batch's compute, then the optimizer over every parameter.</summary>
    public double AloneSamplesPerSecond(int batch) =>
        batch / (batch * Machine.SecondsPerSample(Network) + Machine.ReduceSeconds(0, Network.Parameters));
}
