namespace DistributedNN.Transport;

/// <summary>
/// Who sums a step's gradients: the coordinator (star: every gradient up its one link, the weights down it to every
/// worker) or the workers (sharded: each owns a slice of the parameter vector, sums it and updates it; the coordinator's
/// link carries one sum). <see cref="Auto"/> picks by the cost model. The same bits either way.
/// </summary>
public enum Topology
{
    Star,
    Sharded,
    Auto,
}

public static class TopologyNames
{
    public static bool TryParse(string? text, out Topology topology)
    {
        switch (text?.Trim().ToLowerInvariant())
        {
            case "star": topology = Topology.Star; return true;
            case "sharded": topology = Topology.Sharded; return true;
            case "auto": topology = Topology.Auto; return true;
            default: topology = Topology.Star; return false;
        }
    }

    public static string Name(Topology topology) => topology.ToString().ToLowerInvariant();
}
