namespace DistributedNN.Security;

/// <summary>Where a node's TLS certificate, key and trusted certificates are (full paths), and the peer name it pins.</summary>
public sealed record TlsFiles(string Certificate, string? Key, string? Trust, string? PeerName = null)
{
    /// <summary>Loads them (the password of an encrypted key or PKCS#12 file from DNN_TLS_PASSWORD).</summary>
    public ClusterTls Load() => ClusterTls.Load(Certificate, Key, Trust,
        Environment.GetEnvironmentVariable("DNN_TLS_PASSWORD") is { Length: > 0 } password ? password : null, PeerName);

    /// <summary>The same files as command-line options, for a process this one starts.</summary>
    public IEnumerable<string> Arguments()
    {
        yield return "--tls-cert";
        yield return Certificate;
        if (Key is not null) { yield return "--tls-key"; yield return Key; }
        if (Trust is not null) { yield return "--tls-ca"; yield return Trust; }
        if (PeerName is not null) { yield return "--tls-peer-name"; yield return PeerName; }
    }
}
