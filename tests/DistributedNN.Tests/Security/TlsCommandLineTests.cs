using System.Security.Cryptography.X509Certificates;
using DistributedNN.Security;
using DistributedNN.Tests.Cli;
using DistributedNN.Tests.Distributed;

namespace DistributedNN.Tests.Security;

/// <summary>`dnn cert`, the --tls-* options and every way their files can be wrong: one line, exit 1.</summary>
public sealed class TlsCommandLineTests : IDisposable
{
    private readonly DistributedNN.Tests.TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Cert_makes_a_self_signed_certificate_and_a_private_key_that_load_and_trust_each_other()
    {
        var (exit, output, err) = CliRunner.Run("cert", "--out", _dir.Path, "--name", "test", "--subject", "CN=unit-test", "--days", "30");
        Assert.True(exit == 0, err);
        Assert.Contains("SHA-256", output);
        string cert = _dir.File("test.crt"), key = _dir.File("test.key");
        if (!OperatingSystem.IsWindows()) Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(key));
        using var tls = ClusterTls.Load(cert, key);
        Assert.Equal("CN=unit-test", tls.Certificate.Subject);
        Assert.True(tls.Certificate.HasPrivateKey);
        Assert.InRange((tls.Certificate.NotAfter - DateTime.Now).TotalDays, 29, 31.1);
        Assert.True(tls.IsTrusted(tls.Certificate, out _));
        using var other = TlsTestCertificates.Stranger();
        Assert.False(tls.IsTrusted(other.Certificate, out string reason));
        Assert.Contains("not trusted", reason);

        // a second run does not overwrite the key of a running cluster
        (exit, _, err) = CliRunner.Run("cert", "--out", _dir.Path, "--name", "test");
        Assert.Equal(1, exit);
        Assert.Contains("exists already", err);
        Assert.Equal(0, CliRunner.Run("cert", "--out", _dir.Path, "--name", "test", "--force").Exit);
    }

    [Fact]
    public void A_trusted_CA_file_decides_whom_a_node_trusts()
    {
        var (clusterCert, clusterKey) = TlsTestCertificates.ClusterFiles;
        var (strangerCert, _) = TlsTestCertificates.StrangerFiles;
        // trust the stranger's certificate instead of our own: now only the stranger is accepted
        using var tls = ClusterTls.Load(clusterCert, clusterKey, strangerCert);
        using var stranger = TlsTestCertificates.Stranger();
        Assert.True(tls.IsTrusted(stranger.Certificate, out string why), why);
        Assert.False(tls.IsTrusted(tls.Certificate, out _));
        // both in one PEM file: both accepted
        string both = _dir.File("both.pem");
        File.WriteAllText(both, File.ReadAllText(clusterCert) + File.ReadAllText(strangerCert));
        using var wide = ClusterTls.Load(clusterCert, clusterKey, both);
        Assert.True(wide.IsTrusted(stranger.Certificate, out why), why);
        Assert.True(wide.IsTrusted(tls.Certificate, out why), why);
        Assert.False(wide.IsTrusted(null, out string reason));
        Assert.Equal("no certificate presented", reason);
    }

    [Fact]
    public void A_PKCS12_file_with_its_password_works_too()
    {
        using var tls = TlsTestCertificates.Cluster();
        string pfx = _dir.File("node.pfx");
        File.WriteAllBytes(pfx, tls.Certificate.Export(X509ContentType.Pkcs12, "s3cret"));
        using var loaded = ClusterTls.Load(pfx, password: "s3cret");
        Assert.Equal(tls.Certificate.Thumbprint, loaded.Certificate.Thumbprint);
        var e = Assert.Throws<UserErrorException>(() => ClusterTls.Load(pfx, password: "wrong"));
        Assert.StartsWith($"cannot load the certificate {pfx}", e.Message);
    }

    public static TheoryData<string, string> BadFiles => new()
    {
        { "missing", "--tls-cert: {dir}/missing.crt does not exist" },
        { "no-key", "holds no private key: give the key file with --tls-key" },
        { "garbage", "cannot load the certificate" },
        { "key-without-cert", "--tls-key, --tls-ca and --tls-peer-name need --tls-cert" },
        { "ca-missing", "--tls-ca: {dir}/nothing.pem does not exist" },
        { "ca-empty", "holds no PEM certificate" },
        { "single-process", "--tls-cert secures a cluster" },
        // closed by default: no TLS on an address other machines reach is refused, naming the way out
        { "exposed-bind", "--host 0.0.0.0 can be reached from other machines, and this node has no TLS: give --tls-cert (make one with `dnn cert`), or --insecure" },
        { "exposed-public-host", "--public-host 10.11.12.13 can be reached from other machines" },
        { "insecure-and-cert", "--insecure and --tls-cert contradict each other" },
        { "insecure-single-process", "--insecure applies to a cluster" },
    };

    [Theory]
    [MemberData(nameof(BadFiles))]
    public void Bad_TLS_files_are_one_line_errors(string kind, string expected)
    {
        var (cert, key) = TlsTestCertificates.ClusterFiles;
        string garbage = _dir.File("garbage.crt");
        File.WriteAllText(garbage, "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
        string empty = _dir.File("empty.pem");
        File.WriteAllText(empty, "nothing here\n");
        string[] tls = kind switch
        {
            "missing" => ["--tls-cert", _dir.File("missing.crt")],
            "no-key" => ["--tls-cert", cert],
            "garbage" => ["--tls-cert", garbage],
            "key-without-cert" => ["--tls-key", key],
            "ca-missing" => ["--tls-cert", cert, "--tls-key", key, "--tls-ca", _dir.File("nothing.pem")],
            "ca-empty" => ["--tls-cert", cert, "--tls-key", key, "--tls-ca", empty],
            "exposed-bind" => ["--host", "0.0.0.0"],
            "exposed-public-host" => ["--public-host", "10.11.12.13"],
            "insecure-and-cert" => ["--insecure", "--tls-cert", cert, "--tls-key", key],
            "insecure-single-process" => ["--insecure"],
            _ => ["--tls-cert", cert, "--tls-key", key],
        };
        string[] cluster = kind.EndsWith("single-process", StringComparison.Ordinal) ? [] : ["--min-workers", "1", "--start-timeout", "1"];
        var (exit, _, err) = CliRunner.Run(["train", "--data", TestData.Csv, "--layers", "4,8,2", "--epochs", "1", .. cluster, .. tls]);
        Assert.Equal(1, exit);
        Assert.Contains("error: " , err);
        Assert.Contains(expected.Replace("{dir}", _dir.Path), err);
        Assert.Single(err.Trim().Split('\n'));
    }

    public static TheoryData<string[], string> BadWorkers => new()
    {
        { ["--seed-nodes", "127.0.0.1:1"], "this worker has no cluster credentials: give --tls-cert FILE" },
        { ["--seed-nodes", "127.0.0.1:1", "--host", "0.0.0.0"], "--host 0.0.0.0 can be reached from other machines, and this node has no TLS" },
    };

    [Theory]
    [MemberData(nameof(BadWorkers))]
    public void A_worker_without_credentials_or_exposed_without_TLS_is_a_one_line_error(string[] args, string expected)
    {
        var (exit, _, err) = CliRunner.Run(["worker", .. args]);
        Assert.Equal(1, exit);
        Assert.Contains("error: " + expected, err);
        Assert.Single(err.Trim().Split('\n'));
    }
}
