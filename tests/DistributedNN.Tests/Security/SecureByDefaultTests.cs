using System.Text.Json;
using System.Text.RegularExpressions;
using DistributedNN.Security;
using DistributedNN.Tests.Cli;
using DistributedNN.Tests.Distributed;

namespace DistributedNN.Tests.Security;

/// <summary>How a cluster run is protected when the user says nothing, says --insecure, or gives certificates.</summary>
public sealed class SecureByDefaultTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public void A_run_secret_is_a_certificate_and_key_readable_by_its_owner_only_and_gone_after_dispose()
    {
        string path;
        string directory;
        using (var secret = RunSecret.Create())
        {
            path = secret.Path;
            directory = Path.GetDirectoryName(path)!;
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(directory));
            using var tls = secret.Files.Load();
            Assert.True(tls.IsRunSecret);
            Assert.Null(tls.DataPlane); // tensors on loopback are guarded by each worker's access token
            using var other = RunSecret.Create();
            Assert.NotEqual(path, other.Path);
            using var otherTls = other.Files.Load();
            Assert.False(tls.IsTrusted(otherTls.Certificate, out string reason)); // each run trusts its own secret only
            Assert.Contains("is not trusted here", reason);
        }
        Assert.False(Directory.Exists(directory));
    }

    [Theory]
    [InlineData("127.0.0.1", null, null)]
    [InlineData("localhost", "127.0.0.1", null)]
    [InlineData("0.0.0.0", null, "0.0.0.0")]
    [InlineData("127.0.0.1", "worker-1", "worker-1")]
    [InlineData("10.0.0.5", "127.0.0.1", "10.0.0.5")]
    public void A_node_is_exposed_when_it_binds_or_advertises_an_address_other_machines_reach(string bind, string? advertised, string? exposed) =>
        Assert.Equal(exposed, Exposure.Exposed(bind, advertised));

    [Fact]
    public void A_run_secret_is_refused_on_an_address_other_machines_reach()
    {
        using var secret = RunSecret.Create();
        var e = Assert.Throws<UserErrorException>(() => NodeSecurity.ForWorker("0.0.0.0", null, secret.Files, insecure: false));
        Assert.Contains("is a run's own secret, for nodes on this machine's 127.0.0.1 only", e.Message);
    }

    [Fact]
    public void A_peer_whose_certificate_does_not_carry_the_pinned_name_is_refused()
    {
        var (cert, key) = TlsTestCertificates.ClusterFiles;
        using var pinnedRight = new TlsFiles(cert, key, null, "dnn-cluster").Load();
        using var pinnedWrong = new TlsFiles(cert, key, null, "coordinator.example").Load();
        using var peer = TlsTestCertificates.Cluster();
        Assert.True(pinnedRight.IsTrusted(peer.Certificate, out _));
        Assert.False(pinnedWrong.IsTrusted(peer.Certificate, out string reason));
        Assert.Contains("--tls-peer-name coordinator.example", reason);
    }
}

/// <summary>Real cluster runs through the command line: the default protection, and --insecure's warning.</summary>
[Trait(TestTiers.Category, TestTiers.Integration)]
public sealed class SecureByDefaultRunTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private (string Out, JsonElement Metrics) Train(string name, params string[] extra)
    {
        string metrics = _dir.File(name + ".json");
        var (exit, stdout, stderr) = CliRunner.Run(["train", "--data", TestData.Csv, "--layers", "4,8,2", "--epochs", "1", "--batch", "32", "--workers", "1",
            "--metrics-out", metrics, "--out", _dir.File(name), .. extra]);
        Assert.True(exit == 0, stderr);
        return (stdout, JsonDocument.Parse(File.ReadAllText(metrics)).RootElement.Clone());
    }

    [Fact]
    public void A_cluster_run_on_loopback_is_closed_by_its_own_secret_which_is_gone_afterwards()
    {
        var (stdout, metrics) = Train("default");
        Assert.Equal("run-secret", metrics.GetProperty("security").GetString());
        var secret = Regex.Match(stdout, @"mutual TLS with this run's secret (\S+cluster-secret\.pem) \(workers started by hand: dnn worker --tls-cert \1\)");
        Assert.True(secret.Success, stdout);
        Assert.False(File.Exists(secret.Groups[1].Value));
        Assert.False(metrics.TryGetProperty("security_warning", out _));
    }

    [Fact]
    public void An_insecure_run_says_so_in_its_metrics_and_trains_the_same_bits()
    {
        var (stdout, metrics) = Train("insecure", "--insecure");
        Assert.Contains("NO TLS (--insecure)", stdout);
        Assert.Equal("insecure", metrics.GetProperty("security").GetString());
        Assert.Contains("WITHOUT TLS", metrics.GetProperty("security_warning").GetString());
        var (_, closed) = Train("closed");
        Assert.Equal(closed.GetProperty("weights_sha256").GetString(), metrics.GetProperty("weights_sha256").GetString());
    }
}
