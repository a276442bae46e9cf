using System.CommandLine;

namespace DistributedNN.Security;

/// <summary>
/// The TLS options shared by `train` and the worker: --tls-cert, --tls-key, --tls-ca, each falling back to its
/// DNN_TLS_* environment variable; the password of an encrypted key or PKCS#12 file comes only from
/// DNN_TLS_PASSWORD (a command line is visible to every user of the machine).
/// </summary>
public sealed class TlsOptions
{
    public Option<string?> Certificate { get; } = new("--tls-cert")
    {
        Description = "Turn on mutual TLS on both planes with this certificate (PEM, or .pfx/.p12); every node needs one its peers trust [env DNN_TLS_CERT]",
    };

    public Option<string?> Key { get; } = new("--tls-key")
    {
        Description = "PEM private key of --tls-cert (default: in the certificate file) [env DNN_TLS_KEY]",
    };

    public Option<string?> Trust { get; } = new("--tls-ca")
    {
        Description = "PEM certificate(s) a peer's certificate must chain to (default: --tls-cert itself, for a cluster sharing one self-signed certificate) [env DNN_TLS_CA]",
    };

    public Option<string?> PeerName { get; } = new("--tls-peer-name")
    {
        Description = "Accept only peers whose certificate names this host (subject CN or a DNS subject alternative name), e.g. with certificates from a real CA [env DNN_TLS_PEER_NAME]",
    };

    public Option<bool> Insecure { get; } = new("--insecure")
    {
        Description = "Run without TLS: anyone who reaches this node's ports can join, stop or poison the run (refused otherwise on an address other machines reach; on 127.0.0.1 a per-run secret is used) [env DNN_INSECURE=1]",
    };

    public void AddTo(Command command)
    {
        command.Options.Add(Certificate);
        command.Options.Add(Key);
        command.Options.Add(Trust);
        command.Options.Add(PeerName);
        command.Options.Add(Insecure);
    }

    /// <summary>Whether --insecure (or DNN_INSECURE=1/true) was given.</summary>
    public bool IsInsecure(ParseResult parse) =>
        parse.GetValue(Insecure) || Environment.GetEnvironmentVariable("DNN_INSECURE") is "1" or "true" or "TRUE" or "True";

    /// <summary>The node's TLS settings, or null when no certificate is given.</summary>
    /// <exception cref="UserErrorException">A key or CA without a certificate, or files that cannot be used.</exception>
    public ClusterTls? Resolve(ParseResult parse) => Files(parse)?.Load();

    /// <summary>The TLS files given (options, else DNN_TLS_* variables), as full paths; null when no certificate is given.</summary>
    /// <exception cref="UserErrorException">A key or CA without a certificate.</exception>
    public TlsFiles? Files(ParseResult parse)
    {
        static string? Env(string key) => Environment.GetEnvironmentVariable(key) is { Length: > 0 } v ? v : null;
        string? cert = parse.GetValue(Certificate) ?? Env("DNN_TLS_CERT");
        string? key = parse.GetValue(Key) ?? Env("DNN_TLS_KEY");
        string? trust = parse.GetValue(Trust) ?? Env("DNN_TLS_CA");
        string? peer = parse.GetValue(PeerName) ?? Env("DNN_TLS_PEER_NAME");
        if (cert is null)
        {
            if (key is not null || trust is not null || peer is not null)
                throw new UserErrorException("--tls-key, --tls-ca and --tls-peer-name need --tls-cert (or DNN_TLS_CERT): the certificate this node presents");
            return null;
        }
        if (IsInsecure(parse)) throw new UserErrorException("--insecure and --tls-cert contradict each other: give one");
        return new TlsFiles(Path.GetFullPath(cert), key is null ? null : Path.GetFullPath(key), trust is null ? null : Path.GetFullPath(trust), peer);
    }
}

