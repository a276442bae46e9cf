using DistributedNN.Planning;
using DistributedNN.Transport;

namespace DistributedNN.Coordinator.Cli;

/// <summary>How a run's tensors travel: the transport (--transport), and the formats of the shard gradients and of the weights.</summary>
/// <param name="Topology">who sums the gradients; null: auto, decided once the network is known (<see cref="Resolved"/>)</param>
internal sealed record WireChoice(TransportKind Transport, WireFormat GradientFormat, WireFormat WeightFormat, Topology? Topology = Planning.Topology.Star)
{
    /// <exception cref="UserErrorException">An unknown transport or format, or bf16 where no tcp data plane carries it.</exception>
    public static WireChoice For(TrainRequest r)
    {
        var transport = r.Transport.Trim().ToLowerInvariant() == "auto" ? AutoTransport(r) : TransportKinds.Parse(r.Transport);
        var gradientFormat = Format(r, transport, r.GradientFormat, "--gradient-format");
        var weightFormat = Format(r, transport, r.WeightFormat, "--weight-format");
        return new WireChoice(transport, gradientFormat, weightFormat, TopologyFor(r, transport, gradientFormat));
    }

    /// <summary>
    /// --topology: sharded needs a tcp data plane between workers, fp32 gradient slices, and no --verify-fraction (whose checks
    /// need every gradient); auto is the star where sharded cannot be, else decided by the cost model (null until then).
    /// </summary>
    private static Topology? TopologyFor(TrainRequest r, TransportKind transport, WireFormat gradients)
    {
        bool auto = r.Topology.Trim().Equals("auto", StringComparison.OrdinalIgnoreCase);
        if (!auto && !TopologyNames.TryParse(r.Topology, out _))
            throw new UserErrorException($"--topology must be star, sharded or auto (got '{r.Topology}')");
        if (auto) return r.Distributed && transport == TransportKind.Tcp && gradients == WireFormat.Fp32 && r.VerifyFraction == 0 ? null : Planning.Topology.Star;
        TopologyNames.TryParse(r.Topology, out var topology);
        if (topology != Planning.Topology.Sharded) return Planning.Topology.Star;
        if (!r.Distributed) throw new UserErrorException("--topology sharded applies to a distributed run: give --workers, --spawn-workers or --min-workers");
        if (transport != TransportKind.Tcp) throw new UserErrorException($"--topology sharded needs --transport tcp (the workers exchange slices over it), not {transport.Name()}");
        if (gradients != WireFormat.Fp32) throw new UserErrorException("--topology sharded sends fp32 gradient slices: leave --gradient-format at fp32");
        if (r.VerifyFraction > 0) throw new UserErrorException("--verify-fraction needs every shard's gradient at the coordinator: use --topology star with it");
        return Planning.Topology.Sharded;
    }

    /// <summary>
    /// The topology for <paramref name="network"/> on <paramref name="hosts"/> worker hosts: auto asks the cost model
    /// (<see cref="TopologyChoice"/>) with its default figures (a 10 Gbit/s link; docs/BENCHMARKS.md, "Cost model").
    /// </summary>
    public Topology Resolved(Model.NetworkSpec network, int hosts, int shards, int batch) =>
        Topology ?? TopologyChoice.Choose(NetworkCost.Of(network), MachineFigures.Default, new StepShape(hosts, shards, batch));

    /// <summary>
    /// Shared memory when every worker runs on this machine because this run made it (in-process or spawned; no
    /// --min-workers beyond those), the formats are fp32 and no TLS is asked for; TCP otherwise.
    /// </summary>
    public static TransportKind AutoTransport(TrainRequest r)
    {
        int local = r.Workers + r.SpawnWorkers;
        bool allLocal = local > 0 && (r.MinWorkers ?? local) <= local;
        bool fp32 = WireFormats.Parse(r.GradientFormat, "--gradient-format") == WireFormat.Fp32
            && WireFormats.Parse(r.WeightFormat, "--weight-format") == WireFormat.Fp32;
        return allLocal && fp32 && r.Tls is null ? TransportKind.Shm : TransportKind.Tcp;
    }

    private static WireFormat Format(TrainRequest r, TransportKind transport, string text, string option)
    {
        var format = WireFormats.Parse(text, option);
        if (format != WireFormat.Fp32 && (!r.Distributed || transport != TransportKind.Tcp))
            throw new UserErrorException($"{option} {format.Name()} applies to the data plane of a distributed run: give --workers, --spawn-workers or --min-workers (and --transport tcp)");
        return format;
    }
}
