using DistributedNN.Planning;

namespace DistributedNN.Coordinator.Cli;

/// <summary>One line of `dnn plan`'s table: a prediction at a link rate, its efficiency, and what `auto` would pick there.</summary>
internal sealed record PlanRow(double LinkGbit, StepPrediction Prediction, double Efficiency, Topology Auto)
{
    public int Hosts => Prediction.Shape.Hosts;

    /// <summary>Every link rate × host count × topology of <paramref name="request"/>, in that order.</summary>
    public static IReadOnlyList<PlanRow> All(PlanRequest request)
    {
        var rows = new List<PlanRow>();
        foreach (double gbit in request.LinkGbit)
        {
            var machine = request.AtLink(gbit);
            var model = new CostModel(request.Network, machine);
            foreach (int hosts in request.Hosts)
            {
                var shape = request.Shape with { Hosts = hosts };
                var auto = TopologyChoice.Choose(request.Network, machine, shape);
                foreach (var topology in request.Topologies)
                {
                    var p = model.Predict(topology, shape);
                    rows.Add(new PlanRow(gbit, p, model.Efficiency(p), auto));
                }
            }
        }
        return rows;
    }
}
