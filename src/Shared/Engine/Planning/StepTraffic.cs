namespace DistributedNN.Planning;

/// <summary>
/// The bytes and messages of one step per link, for each topology: the coordinator's link and the busiest worker host's
/// (every worker host's link, when the shards divide evenly). P parameters of 4 bytes, K shards, H worker hosts, A = min(H, K)
/// of them computing. Control messages (orders, results) are a few hundred bytes and left out.
/// </summary>
public static class StepTraffic
{
    public static IReadOnlyList<LinkLoad> Of(Topology topology, long parameters, StepShape shape) => topology switch
    {
        Topology.Star => Star(parameters * 4.0, shape),
        Topology.Sharded => Sharded(parameters * 4.0, shape),
        _ => throw new ArgumentOutOfRangeException(nameof(topology)),
    };

    /// <summary>
    /// The coordinator receives every shard's gradient (K·P·4: a worker cannot pre-add its shards, the shard-order sum being a
    /// left fold over all K) and sends the weights to each computing worker (A·P·4). A worker host sends its ⌈K/H⌉ gradients
    /// and receives the weights once.
    /// </summary>
    private static LinkLoad[] Star(double vector, StepShape s) =>
    [
        new(LinkLoad.Coordinator,
            new LinkPhase(0, s.Shards * vector, 0, s.Shards),
            new LinkPhase(s.ActiveHosts * vector, 0, s.ActiveHosts, 0)),
        new(LinkLoad.WorkerHost,
            new LinkPhase(s.MostShardsPerHost * vector, 0, s.MostShardsPerHost, 0),
            new LinkPhase(0, vector, 0, 1)),
    ];

    /// <summary>
    /// S = H slices of P/H, one reducer per worker host. Gradients: a host sends each of its ⌈K/H⌉ shards' gradients minus its
    /// own slice, (H−1)/H·P·4 per shard in H−1 messages; its reducer receives its slice of every shard computed elsewhere,
    /// (K−⌊K/H⌋)·P·4/H. Weights: the reducer sends its updated slice to the H−1 other hosts and its summed gradient slice to
    /// the coordinator (which keeps a replica of the state), P·4 in all, and receives the H−1 other slices; the coordinator
    /// receives all H slices, P·4.
    /// </summary>
    private static LinkLoad[] Sharded(double vector, StepShape s)
    {
        int h = s.Hosts;
        double slice = vector / h;
        int remoteShards = s.Shards - s.FewestShardsPerHost;
        return
        [
            new(LinkLoad.Coordinator, LinkPhase.Idle, new LinkPhase(0, vector, 0, h)),
            new(LinkLoad.WorkerHost,
                new LinkPhase(s.MostShardsPerHost * slice * (h - 1), remoteShards * slice, s.MostShardsPerHost * (h - 1), remoteShards),
                new LinkPhase(slice * h, slice * (h - 1), h, h - 1)),
        ];
    }
}
