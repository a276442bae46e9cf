namespace DistributedNN.Planning;

/// <summary>
/// The model's prediction for one step: its parts on the critical path (compute on the busiest host, communication of the
/// two phases, each on its busiest link, the reducer's or coordinator's sum and optimizer), the resulting rate, and the
/// busiest link's bytes. <see cref="CriticalMessages"/>, <see cref="MessageSeconds"/>, <see cref="CriticalBytes"/> and
/// <see cref="ByteSeconds"/> (parts of the communication) let a calibration refit the per-message and per-byte CPU costs.
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
    double ByteSeconds = 0)
{
    public double StepSeconds => ComputeSeconds + CommunicationSeconds + ReduceSeconds;
    public double SamplesPerSecond => Shape.Batch / StepSeconds;
}
