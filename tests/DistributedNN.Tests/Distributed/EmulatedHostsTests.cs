using System.Diagnostics;
using System.Text;
using System.Text.Json;

namespace DistributedNN.Tests.Distributed;

/// <summary>
/// The emulated multi-host testbed, bench/emulated-cluster.sh: a coordinator host and worker hosts, each a network
/// namespace with its own address on a bridge, its link shaped by tc and its processes in a CPU cgroup, running the real
/// `dnn` and `dnn-worker` processes of this build over mutual TLS. The script needs root and network namespaces: CI runs
/// as root on a machine that has them, and there a script that cannot make them is a failure of this test, never a skip.
/// </summary>
[Trait(TestTiers.Category, TestTiers.EndToEnd)]
public sealed class EmulatedHostsTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private Process? _script;

    public void Dispose()
    {
        if (_script is { HasExited: false } script)
        {
            // SIGTERM first: the script's trap removes its namespaces, cgroups and processes; SIGKILL would leave them
            using (var term = Process.Start("kill", ["-TERM", script.Id.ToString()])) term?.WaitForExit();
            if (!script.WaitForExit(TimeSpan.FromSeconds(30))) script.Kill(entireProcessTree: true);
        }
        _script?.Dispose();
        _dir.Dispose();
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "DistributedNN.sln"))) return dir.FullName;
        throw new InvalidOperationException($"no DistributedNN.sln above {AppContext.BaseDirectory}");
    }

    /// <summary>Runs the script to its end; its exit code, everything it printed, and its process id (which names what it made).</summary>
    private async Task<(int Exit, string Output, int Pid)> RunScript(params string[] args)
    {
        var info = new ProcessStartInfo("bash") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(Path.Combine(RepositoryRoot(), "bench", "emulated-cluster.sh"));
        foreach (var a in args) info.ArgumentList.Add(a);
        if (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host) info.Environment["DOTNET"] = host;
        var output = new StringBuilder();
        _script = new Process { StartInfo = info };
        _script.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        _script.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        _script.Start();
        _script.BeginOutputReadLine();
        _script.BeginErrorReadLine();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(240));
        try { await _script.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException) { lock (output) Assert.Fail($"bench/emulated-cluster.sh did not finish within 240 s:\n{output}"); }
        lock (output) return (_script.ExitCode, output.ToString(), _script.Id);
    }

    [Theory]
    [InlineData("star")]
    [InlineData("sharded")] // each host owns half the parameters: the workers exchange gradient and weight slices over the emulated links
    public async Task Two_emulated_hosts_end_with_the_weights_of_one_process(string topology)
    {
        // 15 steps an epoch (480 training rows, batch 32): 300 steps over the emulated links; 67,586 parameters, so that the
        // tensors outweigh the framing, the orders and the heartbeats on every link
        string[] training = ["--data", TestData.Csv, "--layers", "4,256,256,2", "--epochs", "20", "--batch", "32", "--shards", "4",
            "--lr", "0.02", "--seed", "7", "--optimizer", "sgd"];
        string results = _dir.File("results.jsonl");
        var (exit, output, pid) = await RunScript(["--hosts", "2", "--cpu", "0.5", "--rate", "1gbit", "--bin", AppContext.BaseDirectory,
            "--results", results, "--", .. training, "--topology", topology]);
        Assert.True(exit == 0, $"bench/emulated-cluster.sh failed (exit {exit}); it needs root, network namespaces, tc and a CPU cgroup, which CI has:\n{output}");

        using var run = JsonDocument.Parse(File.ReadAllLines(results).Single());
        var r = run.RootElement;
        Assert.Equal(2, r.GetProperty("hosts").GetInt32());
        Assert.Equal(300, r.GetProperty("steps").GetInt32());
        var (single, _, err) = Cli.CliRunner.Run(["train", .. training, "--metrics-out", _dir.File("single.json"), "--out", _dir.File("single")]);
        Assert.True(single == 0, err);
        using var alone = JsonDocument.Parse(File.ReadAllText(_dir.File("single.json")));
        Assert.Equal(alone.RootElement.GetProperty("weights_sha256").GetString(), r.GetProperty("weights_sha256").GetString());

        long tensor = 4L * r.GetProperty("parameters").GetInt64();
        var links = r.GetProperty("links").EnumerateArray().ToList();
        Assert.Equal(["coordinator", "host 1", "host 2"], links.Select(l => l.GetProperty("host").GetString()));
        long Down(int i) => links[i].GetProperty("down_bytes_per_step").GetInt64();
        long Up(int i) => links[i].GetProperty("up_bytes_per_step").GetInt64();
        if (topology == "star")
        {
            // each step a worker host gets the weights and sends two shard gradients, all through the coordinator's link
            foreach (int w in new[] { 1, 2 }) Assert.True(Down(w) >= tensor && Up(w) >= 2 * tensor, links[w].ToString());
            Assert.True(Down(0) >= 4 * tensor, links[0].ToString());
            Assert.Equal("coordinator", r.GetProperty("busiest_link").GetString());
        }
        else
        {
            // the coordinator gets one sum a step (not four gradients); a host sends the other's half of its two gradients,
            // its half of the new weights and its half's sum
            Assert.True(Down(0) >= tensor && Down(0) < 2 * tensor, links[0].ToString());
            foreach (int w in new[] { 1, 2 }) Assert.True(Up(w) >= 3 * tensor / 2 && Down(w) >= tensor, links[w].ToString());
            Assert.NotEqual("coordinator", r.GetProperty("busiest_link").GetString());
        }

        // and nothing it made is left: namespaces, CPU cgroups
        Assert.Empty(Directory.Exists("/run/netns") ? Directory.GetFiles("/run/netns", $"dnn-{pid}-*") : []);
        Assert.False(Directory.Exists($"/sys/fs/cgroup/cpu/dnn-{pid}") || Directory.Exists($"/sys/fs/cgroup/dnn-{pid}"), "the run's cgroup is left");
    }
}
