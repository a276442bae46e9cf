namespace DistributedNN.Security;

/// <summary>
/// The secret of one run on this machine: a fresh self-signed certificate and its key in one PEM file, mode 600
/// from its first byte, in a private directory (mode 700) that is removed when the run ends. The nodes of the run
/// (the coordinator, the workers it spawns, workers started by hand with <c>--tls-cert FILE</c>) prove they hold
/// it in the mutual TLS handshake of Akka.Remote, so a process of another user that reaches the loopback port
/// cannot join, send a message or read one.
/// </summary>
public sealed class RunSecret : IDisposable
{
    /// <summary>The subject that marks a run's certificate (<see cref="ClusterTls.IsRunSecret"/>).</summary>
    public const string Subject = "CN=dnn-run-secret";

    private readonly string _directory;

    private RunSecret(string directory, string path)
    {
        _directory = directory;
        Path = path;
    }

    /// <summary>The PEM file: certificate and private key.</summary>
    public string Path { get; }

    /// <summary>The file as TLS options (the key is in the certificate file; trusted: the certificate itself).</summary>
    public TlsFiles Files => new(Path, null, null);

    public static RunSecret Create()
    {
        // a new directory with a random name, 700 on Unix; the file is written as every key is (600 from its first byte,
        // never through anything planted at its name)
        var directory = Directory.CreateTempSubdirectory("dnn-run-").FullName;
        string path = System.IO.Path.Combine(directory, "cluster-secret.pem");
        Serialization.AtomicFile.Write(path, System.Text.Encoding.ASCII.GetBytes(ClusterTls.SelfSignedPem(Subject, days: 7)), Serialization.AtomicFile.Private, overwrite: false);
        return new RunSecret(directory, path);
    }

    public void Dispose()
    {
        try { Directory.Delete(_directory, recursive: true); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { /* already gone */ }
    }
}
