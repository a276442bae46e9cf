using System.CommandLine;
using DistributedNN.Configuration;
using DistributedNN.Security;

namespace DistributedNN.Worker;

/// <summary>The worker's options, in the order its help lists them; each falls back to the DNN_* variable its description names.</summary>
internal sealed class WorkerOptions
{
    public Option<string?> SeedNodes { get; } = new("--seed-nodes") { Description = "Comma-separated seed nodes, e.g. akka.tcp://dnn@coordinator:4053 [env DNN_SEED_NODES]" };
    public Option<string?> Host { get; } = new("--host") { Description = "Address to bind (Akka.Remote and the data plane) [env DNN_HOST, default 127.0.0.1]" };
    public Option<string?> PublicHost { get; } = new("--public-host") { Description = "Host name other nodes reach this worker by [env DNN_PUBLIC_HOST, default --host]" };
    public Option<int?> Port { get; } = new("--port") { Description = "Akka.Remote port, 0 = any free [env DNN_PORT, default 0]" };
    public Option<int?> DataPort { get; } = new("--data-port") { Description = "Data-plane (tensor) port, 0 = any free [env DNN_DATA_PORT, default 0]" };
    public Option<string?> Data { get; } = new("--data") { Description = "The data to load, whatever path the job names (same contents, another mount point); without it a job's path is loaded only from $DNN_DATA or /usr/share/datasets/fashion-mnist [env DNN_WORKER_DATA]" };
    public Option<int?> Cores { get; } = new("--cores") { Description = "Cores this worker may use [env DNN_CORES, default all]" };
    public Option<string?> LogLevel { get; } = new("--log-level") { Description = "debug, info, warning, error [env DNN_LOG_LEVEL, default info]" };
    public Option<int?> JoinTimeout { get; } = new("--join-timeout") { Description = "Seconds to wait for the cluster [env DNN_JOIN_TIMEOUT, default 60]" };
    public Option<string?> LogFile { get; } = new("--log-file") { Description = "Also write the log to this file, info and up [env DNN_LOG_FILE]" };
    public Option<string?> LogFormat { get; } = new("--log-format") { Description = "The log file's format: text, or json (one compact JSON event per line, CLEF) [env DNN_LOG_FORMAT, default text]" };
    public TlsOptions Tls { get; } = new();

    /// <summary>Adds every option, the TLS options and --config to <paramref name="command"/>.</summary>
    public void AddTo(Command command)
    {
        foreach (var o in new Option[] { SeedNodes, Host, PublicHost, Port, DataPort, Data, Cores, LogLevel, JoinTimeout, LogFile, LogFormat }) command.Options.Add(o);
        Tls.AddTo(command);
        command.Options.Add(ConfigArguments.Option());
    }
}
