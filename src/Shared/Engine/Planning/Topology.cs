namespace DistributedNN.Planning;

/// <summary>
/// How a step's gradients are summed and its weights handed out. <see cref="Star"/>: every worker sends each of its shards'
/// gradients to the coordinator, which sums them in shard order, runs the optimizer and sends the weights to every worker.
/// <see cref="Sharded"/>: the parameter vector is cut into one slice per worker host; each slice's owner (a reducer on that
/// host) sums its slice over the shards in shard order, updates it and sends it to every worker host and to the coordinator.
/// </summary>
public enum Topology { Star, Sharded }
