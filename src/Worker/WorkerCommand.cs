using System.CommandLine;
using DistributedNN.Hosting;
using DistributedNN.Logging;

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
        var seeds = new Option<string?>("--seed-nodes") { Description = "Comma-separated seed nodes, e.g. akka.tcp://dnn@coordinator:4053 [env DNN_SEED_NODES]" };
        var host = new Option<string?>("--host") { Description = "Address to bind (Akka.Remote and the data plane) [env DNN_HOST, default 127.0.0.1]" };
        var publicHost = new Option<string?>("--public-host") { Description = "Host name other nodes reach this worker by [env DNN_PUBLIC_HOST, default --host]" };
        var port = new Option<int?>("--port") { Description = "Akka.Remote port, 0 = any free [env DNN_PORT, default 0]" };
        var dataPort = new Option<int?>("--data-port") { Description = "Data-plane (tensor) port, 0 = any free [env DNN_DATA_PORT, default 0]" };
        var data = new Option<string?>("--data") { Description = "Use this data path instead of the coordinator's (same contents, another mount point) [env DNN_WORKER_DATA]" };
        var cores = new Option<int?>("--cores") { Description = "Cores this worker may use [env DNN_CORES, default all]" };
        var logLevel = new Option<string?>("--log-level") { Description = "debug, info, warning, error [env DNN_LOG_LEVEL, default info]" };
        var joinTimeout = new Option<int?>("--join-timeout") { Description = "Seconds to wait for the cluster [env DNN_JOIN_TIMEOUT, default 60]" };
        var logFile = new Option<string?>("--log-file") { Description = "Also write the log to this file, info and up [env DNN_LOG_FILE]" };
        var logFormat = new Option<string?>("--log-format") { Description = "The log file's format: text, or json (one compact JSON event per line, CLEF) [env DNN_LOG_FORMAT, default text]" };
        foreach (var o in new Option[] { seeds, host, publicHost, port, dataPort, data, cores, logLevel, joinTimeout, logFile, logFormat }) command.Options.Add(o);
        var tlsOptions = new Security.TlsOptions();
        tlsOptions.AddTo(command);
        command.Options.Add(Configuration.ConfigArguments.Option());
        command.SetAction(async (parse, ct) =>
        {
            string? Env(string key) => Environment.GetEnvironmentVariable(key) is { Length: > 0 } v ? v : null;
            int? EnvInt(string key)
            {
                if (Env(key) is not { } v) return null;
                return int.TryParse(v, out int n) ? n : throw new UserErrorException($"{key}={v} is not a whole number");
            }
            string bind = parse.GetValue(host) ?? Env("DNN_HOST") ?? "127.0.0.1";
            int remotePort = parse.GetValue(port) ?? EnvInt("DNN_PORT") ?? 0;
            int tensorPort = parse.GetValue(dataPort) ?? EnvInt("DNN_DATA_PORT") ?? 0;
            int coreCount = parse.GetValue(cores) ?? EnvInt("DNN_CORES") ?? Environment.ProcessorCount;
            int join = parse.GetValue(joinTimeout) ?? EnvInt("DNN_JOIN_TIMEOUT") ?? 60;
            if (remotePort is < 0 or > 65535) throw new UserErrorException($"--port must be between 0 and 65535 (got {remotePort})");
            if (tensorPort is < 0 or > 65535) throw new UserErrorException($"--data-port must be between 0 and 65535 (got {tensorPort})");
            if (coreCount < 1) throw new UserErrorException($"--cores must be at least 1 (got {coreCount})");
            if (join < 1) throw new UserErrorException($"--join-timeout must be at least 1 second (got {join})");
            var seedList = (parse.GetValue(seeds) ?? Env("DNN_SEED_NODES") ?? "")
                .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            bool jsonLog = DnnLogging.ParseFileFormat(parse.GetValue(logFormat) ?? Env("DNN_LOG_FORMAT") ?? "text", "--log-format");
            DnnLogging.Configure(DnnLogging.ParseLevel(parse.GetValue(logLevel) ?? Env("DNN_LOG_LEVEL") ?? "info"), "worker");
            using var file = (parse.GetValue(logFile) ?? Env("DNN_LOG_FILE")) is { } path ? DnnLogging.LogToFile(path, jsonLog) : null;
            var tls = tlsOptions.Resolve(parse);
            // akka.tcp:// or akka.ssl.tcp://: the scheme follows whether this node runs TLS, so one address works for both
            seedList = seedList.Select(seed => DnnAkka.SeedAddress(seed, tls is not null)).ToArray();
            var options = new WorkerHostOptions
            {
                Node = new NodeOptions
                {
                    Host = bind,
                    Port = remotePort,
                    PublicHost = parse.GetValue(publicHost) ?? Env("DNN_PUBLIC_HOST"),
                    SeedNodes = seedList,
                    DataPort = tensorPort,
                    Tls = tls,
                },
                DataPath = parse.GetValue(data) ?? Env("DNN_WORKER_DATA"),
                Cores = coreCount,
                JoinTimeout = TimeSpan.FromSeconds(join),
            };
            return await WorkerHost.RunAsync(options, ct);
        });
        return command;
    }
}
