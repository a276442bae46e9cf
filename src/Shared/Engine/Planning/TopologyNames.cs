namespace DistributedNN.Planning;

/// <summary>The names of <see cref="Topology"/> on the command line and in files: star, sharded.</summary>
public static class TopologyNames
{
    public static string Name(Topology topology) => topology == Topology.Star ? "star" : "sharded";

    public static bool TryParse(string? text, out Topology topology)
    {
        switch (text?.Trim().ToLowerInvariant())
        {
            case "star": topology = Topology.Star; return true;
            case "sharded": topology = Topology.Sharded; return true;
            default: topology = default; return false;
        }
    }
}
