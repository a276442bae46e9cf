using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using DistributedNN.Hosting;
using DistributedNN.Tests.Cli;
using DistributedNN.Worker;

namespace DistributedNN.Tests.Distributed;

/// <summary>
/// `dnn train --verify-fraction` on a real cluster in this process: honest workers train the very same weights whatever
/// the fraction, and a worker that lies (its shard gradients × −100, through a hook only tests can set) is caught,
/// quarantined and logged, the run ending with the fault-free weights — while without verification the same liar goes
/// unnoticed and the weights differ.
/// </summary>
[Trait(TestTiers.Category, TestTiers.Integration)]
public sealed class VerificationTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    public void Dispose() => _dir.Dispose();

    // 480 training samples in batches of 32 in 4 shards: 15 steps an epoch
    private static readonly string[] Training = ["--data", TestData.Csv, "--layers", "4,16,2", "--activation", "tanh", "--epochs", "2", "--batch", "32", "--shards", "4",
        "--lr", "0.02", "--seed", "3"];

    private (string Hash, JsonElement Metrics, string Output) Train(string name, params string[] args)
    {
        string metrics = _dir.File(name + ".json");
        var (exit, output, err) = CliRunner.Run(["train", .. Training, "--metrics-out", metrics, "--out", _dir.File(name), "--worker-wait", "5", .. args]);
        Assert.True(exit == 0, $"{name}: exit {exit}\n{err}\n{output}");
        var root = JsonDocument.Parse(File.ReadAllText(metrics)).RootElement.Clone();
        Assert.Equal(30, root.GetProperty("steps").GetInt32());
        return (root.GetProperty("weights_sha256").GetString()!, root, output);
    }

    [Fact]
    public void Verification_changes_no_bit_of_honest_training()
    {
        var (reference, none, _) = Train("f0", "--workers", "2");
        Assert.False(none.TryGetProperty("verification", out _));
        var (some, _, _) = Train("f005", "--workers", "2", "--verify-fraction", "0.05");
        Assert.Equal(reference, some);
        var (all, m, output) = Train("f1", "--workers", "2", "--verify-fraction", "1");
        Assert.Equal(reference, all);
        var v = m.GetProperty("verification");
        Assert.Equal(1.0, v.GetProperty("fraction").GetDouble());
        Assert.Equal(30 * 4, v.GetProperty("shards_verified").GetInt64());
        Assert.Equal(0, v.GetProperty("mismatches").GetInt64());
        Assert.Equal(0, v.GetProperty("quarantined").GetArrayLength());
        Assert.Contains("verify  120 shards computed twice and compared, 0 mismatches", output);
    }

    [Fact]
    public void A_lone_worker_is_checked_by_the_coordinator_also_when_weights_and_gradients_travel_as_bf16()
    {
        string[] bf16 = ["--workers", "1", "--transport", "tcp", "--gradient-format", "bf16", "--weight-format", "bf16"];
        var (reference, _, _) = Train("bf16-f0", bf16);
        // the coordinator computes every second copy with the rounded weights and rounds its gradient: an honest worker agrees
        var (verified, m, _) = Train("bf16-f1", [.. bf16, "--verify-fraction", "1"]);
        Assert.Equal(reference, verified);
        Assert.Equal(0, m.GetProperty("verification").GetProperty("mismatches").GetInt64());
    }

    [Fact]
    public async Task A_worker_that_lies_is_caught_quarantined_and_logged_and_the_run_ends_with_the_fault_free_weights()
    {
        var (faultFree, _, _) = Train("honest", "--workers", "2");

        var (caught, m, run) = await WithLiar("verified", "--verify-fraction", "1");
        Assert.Equal(faultFree, caught);
        var v = m.GetProperty("verification");
        Assert.True(v.GetProperty("mismatches").GetInt64() >= 1);
        string name = Assert.Single(v.GetProperty("quarantined").EnumerateArray()).GetString()!;
        Assert.Equal(3, m.GetProperty("workers").GetInt32());
        string log = File.ReadAllText(Path.Combine(run, "train.log"));
        Assert.Contains($"Worker {name} lied about shard", log);
        Assert.Matches(@" ERR .*lied about shard \d+ of step 1:", log); // at once: in the first step, by name, step and shard

        // without verification the same liar goes unnoticed: its gradients are applied and the weights differ
        var (fooled, unverified, _) = await WithLiar("unverified");
        Assert.NotEqual(faultFree, fooled);
        Assert.False(unverified.TryGetProperty("verification", out _));
    }

    /// <summary>
    /// A run of two honest in-process workers and a third on its own node in this process whose every shard gradient is
    /// multiplied by −100 before it is sent; the hash, metrics and run folder.
    /// </summary>
    private async Task<(string Hash, JsonElement Metrics, string RunDir)> WithLiar(string name, params string[] args)
    {
        int port = FreePort();
        // the liar is an insider: it holds the cluster's secret, so it joins and registers like an honest worker
        using var secret = DistributedNN.Security.RunSecret.Create();
        using var tls = secret.Files.Load();
        var training = Task.Run(() => Train(name, ["--workers", "2", "--min-workers", "3", "--port", port.ToString(), "--start-timeout", "60", "--tls-cert", secret.Path, .. args]));
        var liar = await DnnAkka.StartNodeAsync(new NodeOptions { Roles = [DnnAkka.WorkerRole], SeedNodes = [$"akka.ssl.tcp://{DnnAkka.SystemName}@127.0.0.1:{port}"], Tls = tls });
        try
        {
            ShardTamper lie = (_, _, gradient) =>
            {
                for (int i = 0; i < gradient.Length; i++) gradient[i] *= -100f;
            };
            liar.ActorSystemOf().ActorOf(WorkerActor.Props(new WorkerActor.Settings("127.0.0.1", 0, 1, TestData.Csv) { Tamper = lie }), "worker");
            var (hash, metrics, _) = await training.WaitAsync(TimeSpan.FromSeconds(180));
            return (hash, metrics, _dir.File(name));
        }
        finally
        {
            await liar.StopAsync(CancellationToken.None);
            liar.Dispose();
        }
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }
}
