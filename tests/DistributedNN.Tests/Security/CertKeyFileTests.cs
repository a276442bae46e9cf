using DistributedNN.Security;
using DistributedNN.Tests.Cli;

namespace DistributedNN.Tests.Security;

/// <summary>
/// The private key `dnn cert` writes: mode 600 as soon as it exists, never written through a file or link someone
/// planted at its name, replaced only with --force.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // file modes
public sealed class CertKeyFileTests : IDisposable
{
    private const UnixFileMode Rw = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private readonly TempDirectory _dir = new();
    public void Dispose() => _dir.Dispose();

    [Fact]
    public void The_key_is_600_right_after_creation_and_no_temp_file_is_left()
    {
        var (cert, key) = ClusterTls.CreateSelfSigned(_dir.Path, "fresh");
        Assert.Equal(Rw, File.GetUnixFileMode(key));
        Assert.Equal(DistributedNN.Serialization.AtomicFile.Public & ~DistributedNN.Platform.UnixFiles.Umask, File.GetUnixFileMode(cert)); // the certificate is public
        Assert.Equal([cert, key], Directory.GetFiles(_dir.Path).Order(StringComparer.Ordinal));
        using var tls = ClusterTls.Load(cert, key);
        Assert.True(tls.Certificate.HasPrivateKey);
    }

    [Fact]
    public void A_file_or_link_planted_at_the_key_name_is_refused_untouched_and_force_replaces_only_the_link()
    {
        string victim = _dir.File("victim"), key = _dir.File("cluster.key");
        File.WriteAllText(victim, "the user's own file");
        var mtime = new DateTime(2021, 5, 6, 7, 8, 9, DateTimeKind.Utc);
        File.SetLastWriteTimeUtc(victim, mtime);
        File.CreateSymbolicLink(key, victim);

        var e = Assert.Throws<UserErrorException>(() => ClusterTls.CreateSelfSigned(_dir.Path));
        Assert.Equal($"{key}: the file exists already", e.Message);
        Assert.False(File.Exists(_dir.File("cluster.crt")));

        // the command says the same in one line, exit 1
        var (exit, _, err) = CliRunner.Run("cert", "--out", _dir.Path);
        Assert.Equal(1, exit);
        Assert.Single(err.TrimEnd().Split('\n'));
        Assert.Contains("exists already (--force replaces them)", err);

        Assert.Equal(0, CliRunner.Run("cert", "--out", _dir.Path, "--force").Exit);
        Assert.Equal("the user's own file", File.ReadAllText(victim));
        Assert.Equal(mtime, File.GetLastWriteTimeUtc(victim));
        Assert.Null(new FileInfo(key).LinkTarget);
        Assert.Equal(Rw, File.GetUnixFileMode(key));
        Assert.StartsWith("-----BEGIN PRIVATE KEY-----", File.ReadAllText(key));
    }
}
