using System.CommandLine;
using DistributedNN.Hosting;
using DistributedNN.Logging;
using DistributedNN.Security;

namespace DistributedNN.Worker;

/// <summary>
/// The worker's command line, shared by the dnn-worker executable and `dnn worker`. Every option
/// falls back to a DNN_* environment variable (containers and Kubernetes set those).
/// </summary>
public static class WorkerCommand
{
    public const string Description = "Join a training cluster as a worker and compute shard gradients until the job is done.\n\n" +
        "Example:\n  dnn-worker --seed-nodes akka.tcp://dnn@10.0.0.5:4053 --host 0.0.0.0 --public-host worker-1 --port 4054 --data-port 4055";

    public static Command Create() => Configure(new Command("worker", Description));

    /// <summary>
    /// The worker's arguments (after the command name) with <c>--config FILE</c>'s settings added where neither an option nor
    /// the environment gives one (<see cref="Configuration.ConfigArguments"/>; --data's variable is DNN_WORKER_DATA here,
    /// DNN_DATA being the coordinator's).
    /// </summary>
    public static string[] ExpandConfig(IReadOnlyList<string> args, Command command, Func<string, string?>? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariable;
        return Configuration.ConfigArguments.Expand(args, command, variable => environment(variable == "DNN_DATA" ? "DNN_WORKER_DATA" : variable));
    }

    /// <summary>Adds the worker's options and action to <paramref name="command"/> (a subcommand or a root command).</summary>
    public static T Configure<T>(T command) where T : Command
    {
        var options = new WorkerOptions();
        options.AddTo(command);
        command.SetAction((parse, ct) => RunAsync(options, parse, ct));
        return command;
    }

    /// <summary>Reads the options (each falling back to its DNN_* variable), starts logging, and serves one job.</summary>
    private static async Task<int> RunAsync(WorkerOptions o, ParseResult parse, CancellationToken ct)
    {
        string bind = parse.GetValue(o.Host) ?? Env("DNN_HOST") ?? "127.0.0.1";
        int remotePort = parse.GetValue(o.Port) ?? EnvInt("DNN_PORT") ?? 0;
        int tensorPort = parse.GetValue(o.DataPort) ?? EnvInt("DNN_DATA_PORT") ?? 0;
        int coreCount = parse.GetValue(o.Cores) ?? EnvInt("DNN_CORES") ?? Environment.ProcessorCount;
        int join = parse.GetValue(o.JoinTimeout) ?? EnvInt("DNN_JOIN_TIMEOUT") ?? 60;
        if (remotePort is < 0 or > 65535) throw new UserErrorException($"--port must be between 0 and 65535 (got {remotePort})");
        if (tensorPort is < 0 or > 65535) throw new UserErrorException($"--data-port must be between 0 and 65535 (got {tensorPort})");
        if (coreCount < 1) throw new UserErrorException($"--cores must be at least 1 (got {coreCount})");
        if (join < 1) throw new UserErrorException($"--join-timeout must be at least 1 second (got {join})");
        var seedList = (parse.GetValue(o.SeedNodes) ?? Env("DNN_SEED_NODES") ?? "")
            .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        bool jsonLog = DnnLogging.ParseFileFormat(parse.GetValue(o.LogFormat) ?? Env("DNN_LOG_FORMAT") ?? "text", "--log-format");
        DnnLogging.Configure(DnnLogging.ParseLevel(parse.GetValue(o.LogLevel) ?? Env("DNN_LOG_LEVEL") ?? "info"), "worker");
        using var file = (parse.GetValue(o.LogFile) ?? Env("DNN_LOG_FILE")) is { } path ? DnnLogging.LogToFile(path, jsonLog) : null;
        string? publicHost = parse.GetValue(o.PublicHost) ?? Env("DNN_PUBLIC_HOST");
        using var security = NodeSecurity.ForWorker(bind, publicHost, o.Tls.Files(parse), o.Tls.IsInsecure(parse));
        if (security.Mode == SecurityMode.Insecure) Serilog.Log.Warning(NodeSecurity.InsecureWarning);
        var tls = security.Tls;
        // akka.tcp:// or akka.ssl.tcp://: the scheme follows whether this node runs TLS, so one address works for both
        seedList = seedList.Select(seed => DnnAkka.SeedAddress(seed, tls is not null)).ToArray();
        var options = new WorkerHostOptions
        {
            Node = new NodeOptions
            {
                Host = bind,
                Port = remotePort,
                PublicHost = publicHost,
                SeedNodes = seedList,
                DataPort = tensorPort,
                Tls = tls,
            },
            DataPath = parse.GetValue(o.Data) ?? Env("DNN_WORKER_DATA"),
            Cores = coreCount,
            JoinTimeout = TimeSpan.FromSeconds(join),
        };
        return await WorkerHost.RunAsync(options, ct);
    }

    private static string? Env(string key) => Environment.GetEnvironmentVariable(key) is { Length: > 0 } v ? v : null;

    /// <exception cref="UserErrorException">The variable is set to something other than a whole number.</exception>
    private static int? EnvInt(string key)
    {
        if (Env(key) is not { } v) return null;
        return int.TryParse(v, out int n) ? n : throw new UserErrorException($"{key}={v} is not a whole number");
    }
}
