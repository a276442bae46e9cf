using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace DistributedNN.Security;

/// <summary>
/// The certificates of a closed cluster: this node's certificate (with its private key), presented on both
/// planes (Akka.Remote and the tensor data plane), and the certificates it trusts. A peer is accepted only when
/// its certificate chains to one of the trusted ones — by default the node's own certificate, which is what a
/// test cluster sharing one self-signed certificate needs. Host names are not checked: membership of the
/// cluster is proven by the certificate, not by the name a node happens to be reached by.
/// </summary>
public sealed class ClusterTls : IDisposable
{
    private readonly X509Certificate2Collection _trusted;

    private ClusterTls(X509Certificate2 certificate, X509Certificate2Collection trusted, string source, string? peerName)
    {
        Certificate = certificate;
        _trusted = trusted;
        Source = source;
        PeerName = peerName;
    }

    /// <summary>This node's certificate, with its private key.</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>Where the certificate came from (for logs).</summary>
    public string Source { get; }

    /// <summary>When set (<c>--tls-peer-name</c>), a peer's certificate must also name it: its subject's CN or one of its DNS names.</summary>
    public string? PeerName { get; }

    /// <summary>
    /// A run's own secret (<see cref="RunSecret"/>): it guards the control plane of a cluster on this machine's loopback,
    /// where the data plane is guarded by each worker's access token, which travels on that TLS channel.
    /// </summary>
    public bool IsRunSecret => Certificate.Subject == RunSecret.Subject;

    /// <summary>What the tensor data plane runs: this TLS, or none (null) for a run's secret (see <see cref="IsRunSecret"/>).</summary>
    public ClusterTls? DataPlane => IsRunSecret ? null : this;

    /// <summary>
    /// Loads a certificate and key: a PEM certificate with the key in <paramref name="keyPath"/> or in the same file,
    /// or a PKCS#12 (.pfx/.p12) file with its <paramref name="password"/>. The trusted certificates come from
    /// <paramref name="trustPath"/> (PEM, one or more) or, when it is null, are the certificate itself.
    /// </summary>
    /// <exception cref="UserErrorException">A file is missing or unreadable, or the certificate has no usable private key.</exception>
    public static ClusterTls Load(string certificatePath, string? keyPath = null, string? trustPath = null, string? password = null, string? peerName = null)
    {
        X509Certificate2 certificate = LoadCertificate(certificatePath, keyPath, password);
        var trusted = new X509Certificate2Collection();
        if (trustPath is null) trusted.Add(X509CertificateLoader.LoadCertificate(certificate.RawData));
        else
        {
            RequireFile(trustPath, "--tls-ca");
            try { trusted.ImportFromPemFile(trustPath); }
            catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException)
            {
                throw new UserErrorException($"cannot read the trusted certificates in {trustPath}: {e.Message}");
            }
            if (trusted.Count == 0) throw new UserErrorException($"{trustPath} holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
        }
        var now = DateTime.Now;
        if (now < certificate.NotBefore || now > certificate.NotAfter)
            throw new UserErrorException($"the certificate in {certificatePath} is valid only from {certificate.NotBefore:yyyy-MM-dd HH:mm} to {certificate.NotAfter:yyyy-MM-dd HH:mm}");
        return new ClusterTls(certificate, trusted, certificatePath, peerName);
    }

    private static X509Certificate2 LoadCertificate(string path, string? keyPath, string? password)
    {
        RequireFile(path, "--tls-cert");
        if (keyPath is not null) RequireFile(keyPath, "--tls-key");
        X509Certificate2 loaded;
        try
        {
            bool pkcs12 = path.EndsWith(".pfx", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".p12", StringComparison.OrdinalIgnoreCase);
            if (pkcs12)
                loaded = X509CertificateLoader.LoadPkcs12FromFile(path, password, X509KeyStorageFlags.Exportable);
            else
            {
                string key = keyPath ?? path;
                if (!File.ReadAllText(key).Contains("PRIVATE KEY-----", StringComparison.Ordinal))
                    throw new UserErrorException(keyPath is null
                        ? $"{path} holds no private key: give the key file with --tls-key (or DNN_TLS_KEY)"
                        : $"{keyPath} holds no PEM private key (-----BEGIN PRIVATE KEY-----)");
                loaded = password is null ? X509Certificate2.CreateFromPemFile(path, key) : X509Certificate2.CreateFromEncryptedPemFile(path, password, key);
            }
        }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw new UserErrorException($"cannot load the certificate {path}{(keyPath is null ? "" : $" with the key {keyPath}")}: {e.Message.TrimEnd('.')}");
        }
        if (!loaded.HasPrivateKey)
        {
            loaded.Dispose();
            throw new UserErrorException($"the certificate in {path} has no private key");
        }
        // a key read from PEM is ephemeral; a PKCS#12 round trip gives SslStream a key it can use everywhere
        byte[] pfx = loaded.Export(X509ContentType.Pkcs12);
        loaded.Dispose();
        return X509CertificateLoader.LoadPkcs12(pfx, null);
    }

    private static void RequireFile(string path, string option)
    {
        // opened, not File.Exists: that says "no" for a file this user may not read, and the user must hear which it is
        try { using var _ = File.OpenRead(path); }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException) { throw new UserErrorException($"{option}: {path} does not exist"); }
        catch (UnauthorizedAccessException) { throw new UserErrorException($"{option}: {path} cannot be read by this user (check its mode and its folder's)"); }
    }

    /// <summary>
    /// Whether <paramref name="peer"/> chains to a trusted certificate (validity period included, revocation not
    /// checked: a test cluster has no revocation list). <paramref name="reason"/> says why not, in one line.
    /// </summary>
    public bool IsTrusted(X509Certificate? peer, out string reason)
    {
        if (peer is null)
        {
            reason = "no certificate presented";
            return false;
        }
        using var certificate = peer as X509Certificate2 is { } c2 ? X509CertificateLoader.LoadCertificate(c2.RawData) : X509CertificateLoader.LoadCertificate(peer.GetRawCertData());
        // one trusted root at a time: several roots may share a subject name (two test clusters' "CN=dnn-cluster"),
        // and a chain builder given them all may try the wrong one and give up
        X509ChainStatus[] status = [];
        foreach (var root in _trusted)
        {
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.Add(root);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            chain.ChainPolicy.DisableCertificateDownloads = true;
            if (chain.Build(certificate))
            {
                if (PeerName is null || Names(certificate).Contains(PeerName, StringComparer.OrdinalIgnoreCase))
                {
                    reason = "";
                    return true;
                }
                reason = $"certificate '{certificate.Subject}' does not name the peer this node requires (--tls-peer-name {PeerName})";
                return false;
            }
            status = chain.ChainStatus;
        }
        var problems = status.Select(s => s.Status).Where(s => s != X509ChainStatusFlags.NoError).Distinct();
        reason = $"certificate '{certificate.Subject}' (SHA-256 {Fingerprint(certificate)[..16]}…) is not trusted here: {string.Join(", ", problems)}";
        return false;
    }

    /// <summary>The names a certificate gives its holder: the subject's CN and the DNS names of its subject alternative names.</summary>
    private static IEnumerable<string> Names(X509Certificate2 certificate)
    {
        yield return certificate.GetNameInfo(X509NameType.SimpleName, forIssuer: false);
        foreach (var extension in certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>())
            foreach (string dns in extension.EnumerateDnsNames()) yield return dns;
    }

    /// <summary>The hex SHA-256 of a certificate's DER bytes.</summary>
    public static string Fingerprint(X509Certificate2 certificate) => Convert.ToHexStringLower(SHA256.HashData(certificate.RawData));

    /// <summary>The options of the accepting side of a data-plane connection: the client must present a trusted certificate.</summary>
    public SslServerAuthenticationOptions ServerOptions(Action<string>? onRefused = null) => new()
    {
        ServerCertificate = Certificate,
        ClientCertificateRequired = true,
        EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        RemoteCertificateValidationCallback = (_, peer, _, _) => Check(peer, onRefused),
    };

    /// <summary>The options of the connecting side: present our certificate, accept only a trusted server.</summary>
    public SslClientAuthenticationOptions ClientOptions(string targetHost, Action<string>? onRefused = null) => new()
    {
        TargetHost = targetHost,
        ClientCertificates = [Certificate],
        LocalCertificateSelectionCallback = (_, _, _, _, _) => Certificate,
        EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        RemoteCertificateValidationCallback = (_, peer, _, _) => Check(peer, onRefused),
    };

    private bool Check(X509Certificate? peer, Action<string>? onRefused)
    {
        if (IsTrusted(peer, out string reason)) return true;
        onRefused?.Invoke(reason);
        return false;
    }

    /// <summary>
    /// Makes a self-signed certificate for a test cluster (ECDSA P-256, valid for <paramref name="days"/> days from
    /// yesterday) and writes it as PEM: <c>DIR/NAME.crt</c> and the private key <c>DIR/NAME.key</c>, mode 600 from its
    /// first byte (<see cref="Serialization.AtomicFile"/>: a new temp file of this user's, renamed into place).
    /// Every node given both files (and no --tls-ca) trusts every other such node, and nothing else.
    /// </summary>
    /// <param name="overwrite">replace existing files (`dnn cert --force`); otherwise an existing one is refused</param>
    public static (string Certificate, string Key) CreateSelfSigned(string directory, string name = "cluster", string subject = "CN=dnn-cluster", int days = 365,
        bool overwrite = false)
    {
        if (days < 1) throw new UserErrorException($"--days must be at least 1 (got {days})");
        Directory.CreateDirectory(directory);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var certificate = SelfSigned(key, subject, days);
        string certPath = Path.Combine(directory, name + ".crt");
        string keyPath = Path.Combine(directory, name + ".key");
        // the key first: refused when it exists, before the certificate is touched
        Serialization.AtomicFile.Write(keyPath, System.Text.Encoding.ASCII.GetBytes(key.ExportPkcs8PrivateKeyPem() + "\n"), Serialization.AtomicFile.Private, overwrite);
        Serialization.AtomicFile.Write(certPath, System.Text.Encoding.ASCII.GetBytes(certificate.ExportCertificatePem() + "\n"), Serialization.AtomicFile.Public, overwrite);
        return (certPath, keyPath);
    }

    /// <summary>A self-signed certificate (as <see cref="CreateSelfSigned"/> makes) and its private key, as one PEM text.</summary>
    public static string SelfSignedPem(string subject, int days)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var certificate = SelfSigned(key, subject, days);
        return certificate.ExportCertificatePem() + "\n" + key.ExportPkcs8PrivateKeyPem() + "\n";
    }

    private static X509Certificate2 SelfSigned(ECDsa key, string subject, int days)
    {
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, hasPathLengthConstraint: true, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyCertSign, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], critical: false)); // server and client authentication
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        var notBefore = DateTimeOffset.UtcNow.AddDays(-1);
        return request.CreateSelfSigned(notBefore, notBefore.AddDays(days + 1));
    }

    public void Dispose()
    {
        Certificate.Dispose();
        foreach (var c in _trusted) c.Dispose();
    }

    public override string ToString() => $"TLS certificate '{Certificate.Subject}' from {Source}";
}
