namespace DistributedNN.Planning;

/// <summary>
/// The model's prediction for one step: its parts on the critical path (compute on the busiest host, communication of the
/// two phases, each on its busiest link, the reducer's or coordinator's sum and optimizer), the resulting rate, and the
/// busiest link's bytes. <see cref="CriticalMessages"/> and <see cref="MessageSeconds"/> (part of the communication) let a
/// calibration refit the per-message overhead.
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
    double MessageSeconds)
{
    public double StepSeconds => ComputeSeconds + CommunicationSeconds + ReduceSeconds;
    public double SamplesPerSecond => Shape.Batch / StepSeconds;
}
