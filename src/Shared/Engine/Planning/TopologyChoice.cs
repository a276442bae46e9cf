namespace DistributedNN.Planning;

/// <summary>The choice behind <c>--topology auto</c>: star or sharded, from the cost model's prediction.</summary>
public static class TopologyChoice
{
    /// <summary>How much faster sharded must be predicted to be chosen over the star.</summary>
    public const double Margin = 0.05;

    /// <summary>
    /// Sharded when there are at least two worker hosts and the model predicts its step at least <see cref="Margin"/> shorter
    /// than the star's; the star otherwise. With one worker host there is no other host to spread the sum over (the model
    /// would still credit the sharded service with the sum done beside the shards, but that is the worker adding its own
    /// shards, not what the service is for); and near a tie the star, the simpler path with fewer actors to lose, wins.
    /// </summary>
    public static Topology Choose(NetworkCost network, MachineFigures machine, StepShape shape)
    {
        if (shape.Hosts < 2) return Topology.Star;
        var model = new CostModel(network, machine);
        double star = model.Predict(Topology.Star, shape).StepSeconds;
        double sharded = model.Predict(Topology.Sharded, shape).StepSeconds;
        return sharded <= star * (1 - Margin) ? Topology.Sharded : Topology.Star;
    }
}
