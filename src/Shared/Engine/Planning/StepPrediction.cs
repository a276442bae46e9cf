namespace DistributedNN.Planning;

/// <summary>
/// The model's prediction for one step: compute on the busiest host, communication, the sum and optimizer, the resulting
/// rate, the busiest link's bytes, and what bounds the step (<see cref="Bound"/>: the links' critical path, a worker host's
/// CPU or the coordinator's; communication is the step less compute and reduction, whichever it is).
/// <see cref="CriticalComputeSeconds"/>, <see cref="CriticalMessages"/>, <see cref="MessageSeconds"/>,
/// <see cref="CriticalBytes"/> and <see cref="ByteSeconds"/> are the bound's parts, so that a calibration can refit the
/// compute rate and the per-message and per-byte CPU costs.
/// </summary>
public sealed record StepPrediction(
    Topology Topology,
    StepShape Shape,
    double ComputeSeconds,
    double CommunicationSeconds,
    double ReduceSeconds,
    string BusiestLink,
    double BusiestLinkBytes,
    int CriticalMessages,
    double MessageSeconds,
    double CriticalBytes = 0,
    double ByteSeconds = 0,
    string Bound = StepPrediction.LinkBound,
    double CriticalComputeSeconds = 0)
{
    public const string LinkBound = "links", WorkerCpuBound = "worker CPU", CoordinatorCpuBound = "coordinator CPU";

    public double StepSeconds => ComputeSeconds + CommunicationSeconds + ReduceSeconds;
    public double SamplesPerSecond => Shape.Batch / StepSeconds;
}
