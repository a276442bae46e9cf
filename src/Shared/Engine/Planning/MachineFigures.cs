namespace DistributedNN.Planning;

/// <summary>
/// The measured figures of one host and its link. Compute is either a sustained rate (<see cref="FlopsPerSecond"/>, for a
/// network of known FLOPs) or a time per sample (<see cref="SampleSeconds"/>, which wins when set). <see cref="CpuShare"/> is
/// the cores a host may use relative to the ones the CPU figures were measured on (a cgroup quota of an emulated host): every
/// CPU cost — compute, per-message overhead, per-byte cost of the network stack and TLS, summing, the optimizer — is divided
/// by it; bandwidth and latency are not.
/// </summary>
public sealed record MachineFigures(
    double FlopsPerSecond,
    double? SampleSeconds,
    double LinkBytesPerSecond,
    double LatencySeconds,
    double MessageSeconds,
    double SumSecondsPerParameter,
    double OptimizerSecondsPerParameter,
    double CpuShare = 1,
    double ByteSeconds = 0)
{
    /// <summary>
    /// The figures `dnn plan` assumes when not given others, and `train --topology auto` decides with: one core of this
    /// project's AVX-512 machine (113 GFLOP/s sustained on 784-256-128-10), a 10 Gbit/s link, 50 µs latency, 20 µs per message,
    /// and <see cref="DefaultByteSeconds"/> of CPU per byte a host sends or receives.
    /// </summary>
    public static MachineFigures Default { get; } = new(113e9, null, 10e9 / 8, 50e-6, 20e-6, 0.3e-9, 0.7e-9, 1, DefaultByteSeconds);

    /// <summary>
    /// CPU seconds (one core) per byte through a host's network stack and TLS, each direction: fitted to the testbed's runs
    /// (docs/BENCHMARKS.md, "The cost model against these runs"), where 0.2-core hosts were held by it, not by their links.
    /// </summary>
    public const double DefaultByteSeconds = 0.32e-9;

    /// <summary>One host's time for one training sample of <paramref name="network"/>.</summary>
    public double SecondsPerSample(NetworkCost network)
    {
        if (SampleSeconds is { } s) return s / CpuShare;
        if (network.FlopsPerSample <= 0)
            throw new UserErrorException("the network's FLOPs per sample are unknown: give --flops-per-sample, or the time per sample with --sample-us");
        return network.FlopsPerSample / FlopsPerSecond / CpuShare;
    }

    /// <summary>The CPU time of moving <paramref name="bytes"/> (both directions) through one host's network stack and TLS.</summary>
    public double ByteCpu(double bytes) => bytes * ByteSeconds / CpuShare;

    /// <summary>The CPU time of <paramref name="messages"/> messages' software overhead on one host.</summary>
    public double MessageOverhead(int messages) => messages * MessageSeconds / CpuShare;

    /// <summary>Summing <paramref name="shards"/> gradients of <paramref name="parameters"/> floats, then the optimizer over them.</summary>
    public double ReduceSeconds(int shards, double parameters) =>
        parameters * (shards * SumSecondsPerParameter + OptimizerSecondsPerParameter) / CpuShare;
}
