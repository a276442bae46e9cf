using System.CommandLine;
using System.Globalization;
using DistributedNN.Model;
using DistributedNN.Planning;

namespace DistributedNN.Coordinator.Cli;

/// <summary>The options of `dnn plan`, in help order, and their reading into a checked <see cref="PlanRequest"/>.</summary>
internal sealed class PlanOptions
{
    /// <summary>784-256-128-10 at batch 1024, one thread of this project's machine (AMD EPYC, AVX-512): 80,000 samples/s × 1.41 MFLOP.</summary>
    public const double DefaultGflops = 113;
    public const string DefaultHosts = "1,2,4,8,16,32,64";

    private readonly Option<string?> _layers = new("--layers") { Description = $"A dense network by its layer sizes, e.g. {TrainCommand.DefaultLayers} (the default)." };
    private readonly Option<string?> _modelSpec = new("--model-spec") { Description = "A network from a model spec file (JSON or YAML, as for train)." };
    private readonly Option<long?> _parameters = new("--parameters") { Description = "Instead of a network: its parameter count P (with --flops-per-sample, or --sample-us)." };
    private readonly Option<double?> _flops = new("--flops-per-sample") { Description = "With --parameters: FLOPs of one sample's forward and backward pass (about 3 × the forward)." };
    private readonly Option<int> _batch = new("--batch") { Description = "Global batch per step.", DefaultValueFactory = _ => 1024 };
    private readonly Option<int> _shards = new("--shards") { Description = "Shards per step (K; handed to hosts round robin: beyond K hosts, the others idle).", DefaultValueFactory = _ => 8 };
    private readonly Option<double?> _gflops = new("--gflops") { Description = $"Sustained GFLOP/s of one host's compute for this network: measure it as samples/s of a single-process `dnn train` × FLOPs per sample (default {DefaultGflops}: this project's machine, one thread, 784-256-128-10)." };
    private readonly Option<double?> _sampleUs = new("--sample-us") { Description = "Instead of --gflops: one host's microseconds per training sample (1e6 / the samples/s of a single-process run)." };
    private readonly Option<string> _linkGbit = new("--link-gbit") { Description = "Each host's link rate in Gbit/s, one direction (a list predicts each: 10,1).", DefaultValueFactory = _ => "10" };
    private readonly Option<double> _latencyUs = new("--latency-us") { Description = "One-way latency per message in µs (paid once per phase: a phase's messages are pipelined).", DefaultValueFactory = _ => 50 };
    private readonly Option<double> _messageUs = new("--message-us") { Description = "Software overhead per tensor message in µs (CPU time at its host; --calibrate fits it).", DefaultValueFactory = _ => 20 };
    private readonly Option<double> _byteNs = new("--byte-ns") { Description = "CPU time per byte a host sends or receives, in ns at one core (network stack and TLS; --calibrate fits it).", DefaultValueFactory = _ => MachineFigures.DefaultByteSeconds * 1e9 };
    private readonly Option<double> _sumNs = new("--sum-ns-per-param") { Description = "Nanoseconds to add one gradient's parameter into the sum (measured here: 0.1–0.4).", DefaultValueFactory = _ => 0.3 };
    private readonly Option<double> _optimizerNs = new("--optimizer-ns-per-param") { Description = "Nanoseconds of the optimizer per parameter (measured here for Adam: 0.65).", DefaultValueFactory = _ => 0.7 };
    private readonly Option<string> _hosts = new("--hosts") { Description = "Worker host counts to predict.", DefaultValueFactory = _ => DefaultHosts };
    private readonly Option<string> _topology = new("--topology") { Description = "star, sharded, or both.", DefaultValueFactory = _ => "both" };
    private readonly Option<string?> _csv = new("--csv") { Description = "Also write the table to this CSV file." };
    private readonly Option<string?> _plot = new("--plot") { Description = "Draw samples/s against hosts, a curve per topology and link rate, into this PNG file." };
    private readonly Option<string?> _calibrate = new("--calibrate") { Description = "Fit --gflops (per core), --message-us and --byte-ns to measured runs in this TSV or JSON-lines file (docs/BENCHMARKS.md, \"Cost model\"), print each run next to its prediction, then predict with the fitted figures." };

    public void AddTo(Command command)
    {
        foreach (var o in new Option[] { _layers, _modelSpec, _parameters, _flops, _batch, _shards, _gflops, _sampleUs, _linkGbit, _latencyUs,
                     _messageUs, _byteNs, _sumNs, _optimizerNs, _hosts, _topology, _csv, _plot, _calibrate })
            command.Options.Add(o);
    }

    public PlanRequest Read(ParseResult parse)
    {
        var (name, title, network) = Network(parse);
        int batch = parse.GetValue(_batch), shards = parse.GetValue(_shards);
        if (batch < 1) throw new UserErrorException($"--batch must be at least 1 (got {batch})");
        if (shards < 1 || shards > batch) throw new UserErrorException($"--shards must be between 1 and --batch ({batch}) (got {shards})");
        var links = Numbers("--link-gbit", parse.GetValue(_linkGbit)!);
        var machine = Machine(parse, links[0]);
        var hosts = Numbers("--hosts", parse.GetValue(_hosts)!).Select(h => h == Math.Floor(h) && h <= 4096 ? (int)h
            : throw new UserErrorException($"--hosts: {h} is not a whole number of hosts from 1 to 4096")).ToArray();
        string? plot = parse.GetValue(_plot);
        if (plot is not null && !plot.EndsWith(".png", StringComparison.OrdinalIgnoreCase))
            throw new UserErrorException($"--plot {plot}: the plot is a PNG file; give a name ending in .png");
        return new PlanRequest(name, title, network, machine, links, hosts, Topologies(parse.GetValue(_topology)!), new StepShape(1, shards, batch),
            parse.GetValue(_csv), plot, parse.GetValue(_calibrate));
    }

    private (string Name, string Title, NetworkCost Cost) Network(ParseResult parse)
    {
        string? layers = parse.GetValue(_layers), spec = parse.GetValue(_modelSpec);
        long? parameters = parse.GetValue(_parameters);
        double? flops = parse.GetValue(_flops);
        if ((layers is not null ? 1 : 0) + (spec is not null ? 1 : 0) + (parameters is not null ? 1 : 0) > 1)
            throw new UserErrorException("give the network one way: --layers, --model-spec, or --parameters (with --flops-per-sample)");
        if (flops is not null && parameters is null) throw new UserErrorException("--flops-per-sample goes with --parameters (--layers and --model-spec count their own)");
        if (parameters is { } p)
        {
            if (p < 1) throw new UserErrorException($"--parameters must be at least 1 (got {p})");
            if (flops is { } f && !(f > 0 && double.IsFinite(f))) throw new UserErrorException($"--flops-per-sample must be a positive number (got {f})");
            return ($"{p:N0} parameters", $"{p:N0} parameters", new NetworkCost(p, flops ?? 0));
        }
        var net = spec is not null ? ModelSpec.Load(spec)
            : NetworkSpec.FromSizes(TrainNetwork.ParseLayers(layers ?? TrainCommand.DefaultLayers), Activation.ReLU, Activation.Softmax, LossKind.CrossEntropy);
        return (net.Describe(), spec is not null ? Path.GetFileName(spec) : net.Describe().Split(' ')[0], NetworkCost.Of(net));
    }

    private MachineFigures Machine(ParseResult parse, double linkGbit)
    {
        double? gflops = parse.GetValue(_gflops), sampleUs = parse.GetValue(_sampleUs);
        if (gflops is not null && sampleUs is not null) throw new UserErrorException("give the compute speed one way: --gflops or --sample-us");
        double rate = Positive("--gflops", gflops ?? DefaultGflops);
        double? sample = sampleUs is { } us ? Positive("--sample-us", us) * 1e-6 : null;
        return new MachineFigures(rate * 1e9, sample, linkGbit * 1e9 / 8,
            NotNegative("--latency-us", parse.GetValue(_latencyUs)) * 1e-6, NotNegative("--message-us", parse.GetValue(_messageUs)) * 1e-6,
            NotNegative("--sum-ns-per-param", parse.GetValue(_sumNs)) * 1e-9, NotNegative("--optimizer-ns-per-param", parse.GetValue(_optimizerNs)) * 1e-9,
            ByteSeconds: NotNegative("--byte-ns", parse.GetValue(_byteNs)) * 1e-9);
    }

    private static Topology[] Topologies(string text) => text.Trim().ToLowerInvariant() switch
    {
        "both" => [Topology.Star, Topology.Sharded],
        _ when TopologyNames.TryParse(text, out var t) => [t],
        _ => throw new UserErrorException($"--topology '{text}' is not star, sharded or both"),
    };

    /// <summary>A comma-separated list of positive numbers, e.g. <c>--hosts 1,2,4</c>.</summary>
    private static double[] Numbers(string option, string text)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        return parts.Select(p => double.TryParse(p, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) && d > 0 && double.IsFinite(d) ? d
            : throw new UserErrorException($"{option} '{text}': '{p}' is not a positive number (write a list like 1,2,4)")).ToArray();
    }

    private static double Positive(string option, double value) =>
        value > 0 && double.IsFinite(value) ? value : throw new UserErrorException($"{option} must be a positive number (got {value})");

    private static double NotNegative(string option, double value) =>
        value >= 0 && double.IsFinite(value) ? value : throw new UserErrorException($"{option} must be zero or a positive number (got {value})");
}
