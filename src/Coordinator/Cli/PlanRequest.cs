using DistributedNN.Planning;

namespace DistributedNN.Coordinator.Cli;

/// <summary>
/// A `dnn plan` command line, checked: the network's cost, the host's figures (at the first link rate), every link rate
/// and host count to predict, the topologies, the step's shape (its <c>Hosts</c> set per row) and the outputs.
/// </summary>
internal sealed record PlanRequest(
    string NetworkName,
    string NetworkTitle,
    NetworkCost Network,
    MachineFigures Machine,
    IReadOnlyList<double> LinkGbit,
    IReadOnlyList<int> Hosts,
    IReadOnlyList<Topology> Topologies,
    StepShape Shape,
    string? Csv,
    string? Plot,
    string? Calibrate)
{
    public MachineFigures AtLink(double gbit) => Machine with { LinkBytesPerSecond = gbit * 1e9 / 8 };
}
