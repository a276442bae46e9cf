using System.Text;
using System.Text.RegularExpressions;
using DistributedNN.Platform;
using DistributedNN.Serialization;

namespace DistributedNN.Tests.Serialization;

/// <summary>
/// Write-then-rename as an attacker with write access to the folder would meet it: temp files are new, private and
/// unguessable; a symbolic link planted at the target or at a temp name is never written through; final modes.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // file modes
public sealed partial class AtomicFileTests : IDisposable
{
    private const UnixFileMode Rw = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private readonly TempDirectory _dir = new();
    public void Dispose() => _dir.Dispose();

    [GeneratedRegex(@"^\.model\.dnn\.[0-9a-f]{32}\.tmp$")]
    private static partial Regex TempName();

    [Fact]
    public void A_temp_file_is_new_private_from_creation_and_unpredictably_named_beside_its_target()
    {
        string target = _dir.File("model.dnn");
        var (first, firstPath) = AtomicFile.CreateTemp(target);
        var (second, secondPath) = AtomicFile.CreateTemp(target);
        using (first)
        using (second)
        {
            Assert.Equal(_dir.Path, Path.GetDirectoryName(firstPath));
            Assert.Matches(TempName(), Path.GetFileName(firstPath));
            Assert.Matches(TempName(), Path.GetFileName(secondPath));
            Assert.NotEqual(firstPath, secondPath);
            // 600 before a byte is written (not chmod-ed afterwards), whatever the umask
            Assert.Equal(0, first.Length);
            Assert.Equal(Rw, File.GetUnixFileMode(first.SafeFileHandle));
            Assert.Equal(Rw, File.GetUnixFileMode(secondPath));
        }
        Assert.Equal(2, Directory.GetFiles(_dir.Path).Length);
    }

    [Fact]
    public void A_symlink_planted_at_the_target_or_at_the_old_temp_name_is_replaced_not_written_through()
    {
        string victim = _dir.File("victim");
        File.WriteAllText(victim, "the user's own file");
        var mtime = new DateTime(2020, 1, 2, 3, 4, 5, DateTimeKind.Utc);
        File.SetLastWriteTimeUtc(victim, mtime);
        string target = _dir.File("model.dnn");
        File.CreateSymbolicLink(target, victim);
        File.CreateSymbolicLink(target + ".tmp-" + Environment.ProcessId, victim); // the name earlier builds used
        File.CreateSymbolicLink(target + ".tmp", victim);

        AtomicFile.Write(target, "new model"u8);

        Assert.Equal("the user's own file", File.ReadAllText(victim));
        Assert.Equal(mtime, File.GetLastWriteTimeUtc(victim));
        Assert.Null(new FileInfo(target).LinkTarget); // a file of its own now
        Assert.Equal("new model", File.ReadAllText(target));
        Assert.Empty(Directory.GetFiles(_dir.Path, ".model.dnn.*.tmp")); // no temp left behind
    }

    [Fact]
    public void Private_files_end_600_public_ones_644_less_the_umask()
    {
        AtomicFile.Write(_dir.File("ckpt"), [1, 2, 3], AtomicFile.Private);
        AtomicFile.Write(_dir.File("model"), [1, 2, 3]);
        Assert.Equal(Rw, File.GetUnixFileMode(_dir.File("ckpt")));
        Assert.Equal(AtomicFile.Public & ~UnixFiles.Umask, File.GetUnixFileMode(_dir.File("model")));
        Assert.True((File.GetUnixFileMode(_dir.File("model")) & (UnixFileMode.GroupWrite | UnixFileMode.OtherWrite)) == 0);
        // rewriting a private file keeps it private (a new temp, renamed over it)
        AtomicFile.Write(_dir.File("ckpt"), [4], AtomicFile.Private);
        Assert.Equal(Rw, File.GetUnixFileMode(_dir.File("ckpt")));
        Assert.Equal([4], File.ReadAllBytes(_dir.File("ckpt")));
    }

    [Fact]
    public void Without_overwrite_an_existing_file_or_link_is_refused_and_left_as_it_was()
    {
        string key = _dir.File("cluster.key"), victim = _dir.File("victim");
        File.WriteAllText(key, "planted");
        File.WriteAllText(victim, "victim");
        var e = Assert.Throws<UserErrorException>(() => AtomicFile.Write(key, "secret"u8, AtomicFile.Private, overwrite: false));
        Assert.Equal($"{key}: the file exists already", e.Message);
        Assert.Equal("planted", File.ReadAllText(key));
        File.Delete(key);
        File.CreateSymbolicLink(key, victim);
        Assert.Throws<UserErrorException>(() => AtomicFile.Write(key, "secret"u8, AtomicFile.Private, overwrite: false));
        Assert.Equal("victim", File.ReadAllText(victim));
        File.Delete(key);
        File.CreateSymbolicLink(key, _dir.File("not-yet")); // a dangling link: writing through it would create the file it names
        Assert.Equal($"{key}: the file exists already",
            Assert.Throws<UserErrorException>(() => AtomicFile.Write(key, "secret"u8, AtomicFile.Private, overwrite: false)).Message);
        Assert.False(File.Exists(_dir.File("not-yet")));
        Assert.Empty(Directory.GetFiles(_dir.Path, "*.tmp"));
        AtomicFile.Write(_dir.File("new.key"), Encoding.ASCII.GetBytes("secret"), AtomicFile.Private, overwrite: false);
        Assert.Equal("secret", File.ReadAllText(_dir.File("new.key")));
    }
}
