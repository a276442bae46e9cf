namespace DistributedNN.Security;

/// <summary>How a node is protected: mutual TLS with the user's certificates, mutual TLS with a run's own secret, or nothing.</summary>
public enum SecurityMode { Tls, RunSecret, Insecure }

/// <summary>
/// The protection a node runs with, decided once from its addresses and options (closed by default):
/// <list type="bullet">
/// <item>certificates given (--tls-cert …): mutual TLS with them, wherever the node listens;</item>
/// <item>--insecure: plain TCP, with a loud warning — anyone who reaches the ports can join, stop or poison the run;</item>
/// <item>neither, on loopback only: the coordinator makes a <see cref="RunSecret"/> and runs mutual TLS with it (a worker
/// must be given that file); neither, on an address other machines reach: refused.</item>
/// </list>
/// </summary>
public sealed class NodeSecurity : IDisposable
{
    public const string InsecureWarning =
        "running WITHOUT TLS (--insecure): anyone who can reach this node's ports can join the cluster, stop it, read the weights and poison the gradients";

    private readonly RunSecret? _secret;

    private NodeSecurity(SecurityMode mode, TlsFiles? files, ClusterTls? tls, RunSecret? secret)
    {
        Mode = mode;
        Files = files;
        Tls = tls;
        _secret = secret;
    }

    public SecurityMode Mode { get; }
    /// <summary>The TLS files (given, or the run's secret): what a spawned worker is given. Null when insecure.</summary>
    public TlsFiles? Files { get; }
    /// <summary>The loaded certificates; null when insecure.</summary>
    public ClusterTls? Tls { get; }

    /// <summary>The name metrics and logs give the mode: tls, run-secret, insecure.</summary>
    public string Name => Mode switch { SecurityMode.Tls => "tls", SecurityMode.RunSecret => "run-secret", _ => "insecure" };

    /// <summary>The command-line arguments that give a spawned worker the same protection.</summary>
    public IEnumerable<string> WorkerArguments() => Mode == SecurityMode.Insecure ? ["--insecure"] : Files!.Arguments();

    /// <summary>The coordinator's protection (`dnn train` on a cluster).</summary>
    /// <exception cref="UserErrorException">An address other machines reach without TLS or --insecure; unusable certificate files.</exception>
    public static NodeSecurity ForCoordinator(string bind, string? advertised, TlsFiles? files, bool insecure) =>
        Decide(bind, advertised, files, insecure, loopbackDefault: () =>
        {
            var secret = RunSecret.Create();
            try { return new NodeSecurity(SecurityMode.RunSecret, secret.Files, secret.Files.Load(), secret); }
            catch { secret.Dispose(); throw; }
        });

    /// <summary>A worker's protection (`dnn worker`): it must be given the cluster's certificate (or the run's secret), or --insecure.</summary>
    /// <exception cref="UserErrorException">No certificate and no --insecure; an address other machines reach without TLS.</exception>
    public static NodeSecurity ForWorker(string bind, string? advertised, TlsFiles? files, bool insecure) =>
        Decide(bind, advertised, files, insecure, loopbackDefault: () => throw new UserErrorException(
            "this worker has no cluster credentials: give --tls-cert FILE (the coordinator's run secret, whose path `dnn train` prints, or a " +
            "certificate made with `dnn cert`), or --insecure when the coordinator runs with --insecure"));

    private static NodeSecurity Decide(string bind, string? advertised, TlsFiles? files, bool insecure, Func<NodeSecurity> loopbackDefault)
    {
        string? exposed = Exposure.Exposed(bind, advertised);
        string hostOption = Exposure.IsLoopback(bind) ? "--public-host" : "--host";
        if (files is not null)
        {
            var tls = files.Load();
            if (tls.IsRunSecret && exposed is not null)
            {
                tls.Dispose();
                throw new UserErrorException($"{files.Certificate} is a run's own secret, for nodes on this machine's 127.0.0.1 only, but this node is reachable at {exposed}: make a cluster certificate with `dnn cert` and give it to every node");
            }
            return new NodeSecurity(tls.IsRunSecret ? SecurityMode.RunSecret : SecurityMode.Tls, files, tls, null);
        }
        if (insecure) return new NodeSecurity(SecurityMode.Insecure, null, null, null);
        if (exposed is not null)
            throw new UserErrorException($"{hostOption} {exposed} can be reached from other machines, and this node has no TLS: give --tls-cert (make one with `dnn cert`), " +
                "or --insecure to run without protection");
        return loopbackDefault();
    }

    public void Dispose()
    {
        Tls?.Dispose();
        _secret?.Dispose();
    }
}
