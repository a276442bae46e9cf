using DistributedNN.Security;

namespace DistributedNN.Tests.Security;

/// <summary>
/// Certificates for the TLS tests, made once per test run: the cluster's (every good node), another self-signed one
/// (a node of some other cluster) and the files of both.
/// </summary>
internal static class TlsTestCertificates
{
    private static readonly Lazy<(string Directory, (string Cert, string Key) Cluster, (string Cert, string Key) Stranger)> Files = new(() =>
    {
        string dir = Path.Combine(Path.GetTempPath(), "dnn-tls-" + Guid.NewGuid().ToString("N")[..8]);
        var cluster = ClusterTls.CreateSelfSigned(dir, "cluster");
        var stranger = ClusterTls.CreateSelfSigned(dir, "stranger", "CN=dnn-cluster"); // the same name, another key
        AppDomain.CurrentDomain.ProcessExit += (_, _) => { try { Directory.Delete(dir, true); } catch (IOException) { } };
        return (dir, cluster, stranger);
    });

    public static (string Cert, string Key) ClusterFiles => Files.Value.Cluster;
    public static (string Cert, string Key) StrangerFiles => Files.Value.Stranger;

    /// <summary>A fresh load of the cluster's certificate (each user disposes its own).</summary>
    public static ClusterTls Cluster() => ClusterTls.Load(ClusterFiles.Cert, ClusterFiles.Key);

    /// <summary>A certificate with the same subject as the cluster's but another key: it must be refused.</summary>
    public static ClusterTls Stranger() => ClusterTls.Load(StrangerFiles.Cert, StrangerFiles.Key);
}
