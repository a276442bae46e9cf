using System.Diagnostics;
using Akka.Actor;
using DistributedNN.Hosting;
using DistributedNN.Logging;
using DistributedNN.Coordinator;
using DistributedNN.Protocol;
using DistributedNN.Training;
using DistributedNN.Transport;
using DistributedNN.Worker;
using DistributedNN.Data;
using Serilog;

namespace DistributedNN.Coordinator;

/// <summary>
/// Runs a training job on the cluster: starts the coordinator node and actor, the in-process worker
/// actors or worker processes asked for, waits for the outcome, and tears everything down.
/// </summary>
public static class DistributedTrainer
{
    public static async Task<TrainingOutcome> RunAsync(TrainingState state, DataRequest data, DataCache.Entry loaded, DistributedOptions options,
        Action<EpochResult>? onEpoch, CancellationToken ct = default)
    {
        var host = await DnnAkka.StartNodeAsync(options.Node with { Roles = [DnnAkka.CoordinatorRole] }, ct: ct);
        var spawned = new List<Process>();
        try
        {
            var system = host.ActorSystemOf();
            var completion = new TaskCompletionSource<TrainingOutcome>(TaskCreationOptions.RunContinuationsAsynchronously);
            var verification = ShardVerification.For(options.VerifyFraction, state, loaded.Train, loaded.Data.Test, options.WeightFormat, options.GradientFormat);
            var job = new TrainingJob(Guid.NewGuid(), state, data, loaded.Fingerprint, loaded.Data.Test.Count, options.Checkpoints, options.PreviousEpochs, verification,
                loaded.Validation);
            var settings = new CoordinatorSettings(job,
                new ClusterPolicy(System.Math.Max(1, options.MinWorkers), options.StepTimeout, options.StartTimeout, options.WorkerWait,
                    string.Join(' ', options.Security?.WorkerArguments() ?? [])),
                new WireSettings(options.Transport, options.GradientFormat, options.WeightFormat, options.Node.Tls?.DataPlane, options.Topology),
                new JobHooks(completion, onEpoch, options.OnStep));
            var coordinator = system.ActorOf(CoordinatorActor.Props(settings), DnnAkka.CoordinatorName);
            int cores = System.Math.Max(1, Environment.ProcessorCount / System.Math.Max(1, options.InProcessWorkers));
            // the workers we start load the coordinator's data as their own --data (a worker loads no path a job names outside its root)
            for (int i = 0; i < options.InProcessWorkers; i++)
                system.ActorOf(WorkerActor.Props(new WorkerActor.Settings("127.0.0.1", 0, cores, data.Path, coordinator, Tls: options.Node.Tls?.DataPlane)), $"worker-{i + 1}");
            var self = Akka.Cluster.Cluster.Get(system).SelfAddress;
            int coresEach = System.Math.Max(1, Environment.ProcessorCount / System.Math.Max(1, options.SpawnedWorkers));
            if (options.SpawnedWorkers > 0 && options.Node.Tls is not null && options.Security is null)
                throw new InvalidOperationException("spawned workers need the TLS files, not only the loaded certificate");
            var protection = options.Security?.WorkerArguments().ToArray() ?? ["--insecure"];
            for (int i = 0; i < options.SpawnedWorkers; i++) spawned.Add(StartWorkerProcess(self.ToString(), data.Path, options.WorkerLogLevel, coresEach, protection));
            using var reg = ct.Register(() => completion.TrySetException(new UserErrorException("interrupted")));
            return await completion.Task;
        }
        finally
        {
            await StopWorkerProcesses(spawned);
            await host.StopAsync(CancellationToken.None);
            host.Dispose();
        }
    }

    /// <summary>This executable again, as `dnn worker`, joining our node on 127.0.0.1.</summary>
    private static Process StartWorkerProcess(string seed, string? dataPath, string logLevel, int cores, string[] protection)
    {
        // `dotnet dnn.dll worker …`: the muxer that runs us (or the SDK's, under a test host), and our own assembly
        string? self = Environment.ProcessPath;
        string exe = self is not null && Path.GetFileNameWithoutExtension(self).Equals("dotnet", StringComparison.OrdinalIgnoreCase) ? self
            : Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host
            : "dotnet";
        var info = new ProcessStartInfo(exe) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = false };
        info.ArgumentList.Add(typeof(DistributedTrainer).Assembly.Location);
        foreach (var a in new[] { "worker", "--seed-nodes", seed, "--host", "127.0.0.1", "--port", "0", "--data-port", "0", "--log-level", logLevel })
            info.ArgumentList.Add(a);
        foreach (var a in protection) info.ArgumentList.Add(a); // the same TLS files, the run's secret, or --insecure
        if (dataPath is not null) foreach (var a in new[] { "--data", dataPath }) info.ArgumentList.Add(a);
        info.Environment["DNN_CORES"] = cores.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var process = Process.Start(info) ?? throw new UserErrorException($"cannot start a worker process ({exe})");
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) Log.Debug("[worker {Pid}] {Line}", process.Id, e.Data); };
        process.BeginOutputReadLine();
        Log.Information("Started worker process {Pid}", process.Id);
        return process;
    }

    private static async Task StopWorkerProcesses(List<Process> processes)
    {
        foreach (var p in processes)
        {
            using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            try { await p.WaitForExitAsync(wait.Token); }
            catch (OperationCanceledException)
            {
                Log.Warning("Worker process {Pid} did not exit after the job; killing it", p.Id);
                p.Kill(entireProcessTree: true);
            }
            p.Dispose();
        }
    }
}
