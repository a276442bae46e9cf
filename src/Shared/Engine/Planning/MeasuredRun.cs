namespace DistributedNN.Planning;

/// <summary>
/// One measured run for a calibration (a row of a <see cref="MeasuredRunFile"/>): its shape, the host's CPU quota (cores)
/// and link rate, and what it measured. Values a row leaves out (null) are the command's: its network, batch, shards, link.
/// </summary>
public sealed record MeasuredRun(
    int Line,
    int Hosts,
    Topology Topology,
    double SamplesPerSecond,
    double CpuQuota,
    double? LinkGbit,
    long? Parameters,
    double? FlopsPerSample,
    int? Batch,
    int? Shards,
    double? BytesPerStep);
