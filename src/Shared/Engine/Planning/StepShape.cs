namespace DistributedNN.Planning;

/// <summary>
/// A step's shape: <see cref="Hosts"/> worker hosts, a global batch of <see cref="Batch"/> samples cut into
/// <see cref="Shards"/> shards, handed out round robin (so a host computes ⌈K/H⌉ shards at most, and with K &lt; H only K
/// hosts compute).
/// </summary>
public sealed record StepShape(int Hosts, int Shards, int Batch)
{
    /// <summary>Hosts that compute a shard: min(H, K).</summary>
    public int ActiveHosts => Math.Min(Hosts, Shards);
    /// <summary>⌈K/H⌉: the shards of the busiest host.</summary>
    public int MostShardsPerHost => (Shards + Hosts - 1) / Hosts;
    /// <summary>⌊K/H⌋: the shards of the least busy host (a reducer there receives the most slices from other hosts).</summary>
    public int FewestShardsPerHost => Shards / Hosts;
    /// <summary>The busiest host's samples: its shards, each at most ⌈B/K⌉ samples (shard bounds ⌊j·B/K⌋).</summary>
    public long SamplesOnBusiestHost => (long)MostShardsPerHost * ((Batch + Shards - 1) / Shards);
}
