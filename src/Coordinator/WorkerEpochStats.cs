namespace DistributedNN.Coordinator;

/// <summary>One worker's share of an epoch: shards computed, compute time per shard, and whether it was the slow one.</summary>
public sealed record WorkerEpochStats(int Epoch, string Worker, int Shards, double MeanMs, double MaxMs, bool Slow);
