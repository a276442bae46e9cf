namespace DistributedNN.Training;

/// <summary>A problem the health check found in an epoch's figures.</summary>
/// <param name="Kind">vanishing, exploding, large-updates, dead or saturated</param>
/// <param name="Layer">1-based layer</param>
public sealed record HealthWarning(string Kind, int Layer, int Epoch, string Message);
