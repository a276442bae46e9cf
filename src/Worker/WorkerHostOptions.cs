using DistributedNN.Hosting;

namespace DistributedNN.Worker;

/// <summary>Options of a worker process (command line or DNN_* environment variables).</summary>
public sealed record WorkerHostOptions
{
    public required NodeOptions Node { get; init; }
    public string? DataPath { get; init; }
    public int Cores { get; init; } = Environment.ProcessorCount;
    /// <summary>How long to wait for a coordinator before giving up.</summary>
    public TimeSpan JoinTimeout { get; init; } = TimeSpan.FromSeconds(60);
}
