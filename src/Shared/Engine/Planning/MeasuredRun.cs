namespace DistributedNN.Planning;

/// <summary>
/// One measured run for a calibration (a row of a <see cref="MeasuredRunFile"/>): its shape, the host's CPU quota (cores)
/// and link rate, the delay added to its links (ms, on top of the command's latency), and what it measured. Values a row
/// leaves out (null) are the command's: its network, batch, shards, link.
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
    double? BytesPerStep,
    double? DelayMs = null);
