using DistributedNN.Planning;

namespace DistributedNN.Tests.Planning;

/// <summary>Each topology's bytes and messages per link and step, against counts made by hand.</summary>
public sealed class StepTrafficTests
{
    // P = 1000 parameters (4,000 bytes a vector), K = 8 shards, H = 4 worker hosts: 2 shards each, slices of 250 parameters
    private static readonly StepShape Four = new(Hosts: 4, Shards: 8, Batch: 64);

    [Fact]
    public void Star_with_1000_parameters_8_shards_and_4_hosts()
    {
        var links = StepTraffic.Of(Topology.Star, 1000, Four);
        var coordinator = links.Single(l => l.Link == LinkLoad.Coordinator);
        Assert.Equal(new LinkPhase(BytesOut: 0, BytesIn: 8 * 4000, MessagesOut: 0, MessagesIn: 8), coordinator.Gradients); // every shard's gradient
        Assert.Equal(new LinkPhase(4 * 4000, 0, 4, 0), coordinator.Weights);                                             // the weights to each worker
        Assert.Equal(48_000, coordinator.Bytes);
        var worker = links.Single(l => l.Link == LinkLoad.WorkerHost);
        Assert.Equal(new LinkPhase(2 * 4000, 0, 2, 0), worker.Gradients);
        Assert.Equal(new LinkPhase(0, 4000, 0, 1), worker.Weights);
    }

    [Fact]
    public void Sharded_with_1000_parameters_8_shards_and_4_hosts()
    {
        var links = StepTraffic.Of(Topology.Sharded, 1000, Four);
        var worker = links.Single(l => l.Link == LinkLoad.WorkerHost);
        // out: 2 shards × the 3 slices other hosts own × 1,000 bytes; in: its slice of the 6 shards computed elsewhere
        Assert.Equal(new LinkPhase(6000, 6000, 6, 6), worker.Gradients);
        // out: its updated slice to 3 hosts and its summed gradient slice to the coordinator; in: the 3 other slices
        Assert.Equal(new LinkPhase(4000, 3000, 4, 3), worker.Weights);
        Assert.Equal(19_000, worker.Bytes);
        var coordinator = links.Single(l => l.Link == LinkLoad.Coordinator);
        Assert.True(coordinator.Gradients.IsIdle);
        Assert.Equal(new LinkPhase(0, 4000, 0, 4), coordinator.Weights); // the replica's P·4 in
    }

    [Fact]
    public void Star_busiest_link_bytes_grow_with_the_hosts_and_sharded_ones_do_not()
    {
        const long p = 1_000_000;
        double Busiest(Topology t, StepShape s) => StepTraffic.Of(t, p, s).Max(l => l.Bytes);
        var hosts = new[] { 1, 2, 4, 8 };
        var star = hosts.Select(h => Busiest(Topology.Star, new StepShape(h, 8, 1024))).ToArray();
        var sharded = hosts.Select(h => Busiest(Topology.Sharded, new StepShape(h, 8, 1024))).ToArray();
        for (int i = 1; i < hosts.Length; i++)
        {
            Assert.True(star[i] > star[i - 1], $"star: {star[i]} bytes at {hosts[i]} hosts, {star[i - 1]} at {hosts[i - 1]}");
            if (i > 1) Assert.True(sharded[i] <= sharded[i - 1], $"sharded: {sharded[i]} bytes at {hosts[i]} hosts, {sharded[i - 1]} at {hosts[i - 1]}");
        }
        Assert.Equal((8 + 8) * p * 4, star[^1]); // 2 × workers × P × 4 at 8 workers
        // one shard per host, any number of hosts: bounded by 4 vectors (gradients out and in, the slices out and in)
        foreach (int h in new[] { 2, 4, 8, 16, 32, 64 })
            Assert.InRange(Busiest(Topology.Sharded, new StepShape(h, h, 1024)), 2 * p * 4, 4 * p * 4);
    }

    [Fact]
    public void A_step_is_its_critical_path_or_the_CPU_of_its_busiest_host_whichever_is_longer()
    {
        var machine = new MachineFigures(FlopsPerSecond: 1e9, SampleSeconds: 1e-3, LinkBytesPerSecond: 1e6, LatencySeconds: 1e-3,
            MessageSeconds: 1e-4, SumSecondsPerParameter: 1e-9, OptimizerSecondsPerParameter: 2e-9);
        var p = new CostModel(new NetworkCost(1000, 0), machine).Predict(Topology.Star, Four);
        Assert.Equal(2 * 8 * 1e-3, p.ComputeSeconds, 12);                 // 2 shards of 8 samples, 1 ms each
        // the links: gradients 32,000 bytes into the coordinator at 1 MB/s + one latency; weights 16,000 out + one latency.
        // Each host sends its first shard's gradient after 8 ms and computes its second meanwhile: the coordinator's link is
        // busy from 8 ms to 8 + 33 = 41 ms, so 8 ms of the 16 ms of compute are under the gradients' wire time
        Assert.Equal(0.032 + 0.001 + 0.016 + 0.001 - 0.008, p.CommunicationSeconds, 12);
        Assert.Equal(1000 * (8 * 1e-9 + 2e-9), p.ReduceSeconds, 15);
        Assert.Equal(64 / (0.008 + 0.033 + 0.017 + 1e-5), p.SamplesPerSecond, 6);
        // one shard a host: nothing to overlap, compute then the wire (8 gradients of 4,000 bytes in, 8 weights out)
        var one = new CostModel(new NetworkCost(1000, 0), machine).Predict(Topology.Star, new StepShape(8, 8, 64));
        Assert.Equal(0.008 + (32_000 / 1e6 + 0.001) + (32_000 / 1e6 + 0.001) + 1000 * (8 * 1e-9 + 2e-9), one.StepSeconds, 12);
        Assert.Equal((LinkLoad.Coordinator, 48_000.0, StepPrediction.LinkBound), (p.BusiestLink, p.BusiestLinkBytes, p.Bound));
        // a tenth of the CPU: compute and the reduction take 10 times as long, the wire does not (the first shard's gradient
        // is in long before the second is computed: only the second's half of the wire follows the compute); the hosts'
        // message overheads (the coordinator's 12 at 1 ms, the worker host's 3) still fit inside the critical path
        var slow = new CostModel(new NetworkCost(1000, 0), machine with { CpuShare = 0.1 }).Predict(Topology.Star, Four);
        Assert.Equal(10 * p.ComputeSeconds, slow.ComputeSeconds, 12);
        Assert.Equal((StepPrediction.LinkBound, 0.16 + 0.0165 + 0.017 + 1e-4), (slow.Bound, Math.Round(slow.StepSeconds, 12)));
        // sharded, a worker host moves 19,000 bytes in 19 messages: at 10 µs a byte on a tenth of a core it holds the step
        var sharded = new CostModel(new NetworkCost(1000, 0), machine with { CpuShare = 0.1, ByteSeconds = 1e-5 }).Predict(Topology.Sharded, Four);
        Assert.Equal((StepPrediction.WorkerCpuBound, 19, 19_000.0), (sharded.Bound, sharded.CriticalMessages, sharded.CriticalBytes));
        // per-byte CPU on a slow coordinator: 48,000 bytes at 10 µs each and a tenth of a core make it the bound
        var held = new CostModel(new NetworkCost(1000, 0), machine with { CpuShare = 0.1, ByteSeconds = 1e-5 }).Predict(Topology.Star, Four);
        Assert.Equal(StepPrediction.CoordinatorCpuBound, held.Bound);
        Assert.Equal(48_000 * 1e-4 + 12 * 1e-3 + 1e-4, held.StepSeconds, 9);
    }

    [Fact]
    public void Beyond_K_hosts_the_others_idle()
    {
        var shape = new StepShape(Hosts: 16, Shards: 8, Batch: 1024);
        Assert.Equal((8, 1, 0, 128L), (shape.ActiveHosts, shape.MostShardsPerHost, shape.FewestShardsPerHost, shape.SamplesOnBusiestHost));
        var star = StepTraffic.Of(Topology.Star, 1000, shape).Single(l => l.Link == LinkLoad.Coordinator);
        Assert.Equal(8 * 4000, star.Weights.BytesOut); // weights only to the 8 hosts that compute
    }
}
