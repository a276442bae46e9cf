using System.Runtime.InteropServices;
using Akka.Actor;
using DistributedNN.Platform;
using DistributedNN.Protocol;
using DistributedNN.Transport;
using Xunit.Abstractions;

namespace DistributedNN.Tests.Transport;

/// <summary>
/// The shm transport's files against another local user or a planted file: creation never reuses or follows what is at
/// the name, a worker maps only regular files of its own user that nobody else may open and that the job may name
/// (the shm folder, the transport's names), and a refusal leaves the file as it was.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // file modes and owners
public sealed class SharedFileSecurityTests(ITestOutputHelper output) : IDisposable
{
    private const UnixFileMode Rw = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private static readonly DateTime OldTime = new(2022, 3, 4, 5, 6, 7, DateTimeKind.Utc);
    private readonly TempDirectory _dir = new();
    public void Dispose() => _dir.Dispose();

    [DllImport("libc", EntryPoint = "chown", SetLastError = true)]
    private static extern int Chown([MarshalAs(UnmanagedType.LPUTF8Str)] string path, uint owner, uint group);

    private string Victim(string name = "victim")
    {
        string path = _dir.File(name);
        File.WriteAllText(path, "the user's own file");
        File.SetLastWriteTimeUtc(path, OldTime);
        return path;
    }

    private static void AssertUntouched(string path, string content = "the user's own file")
    {
        Assert.Equal(content, File.ReadAllText(path));
        Assert.Equal(OldTime, File.GetLastWriteTimeUtc(path));
    }

    [Fact]
    public void Creation_refuses_a_file_or_a_link_already_at_the_name_and_leaves_it_and_its_target_alone()
    {
        string existing = Victim("dnn-existing"), victim = Victim();
        string link = _dir.File("dnn-link"), dangling = _dir.File("dnn-dangling");
        File.CreateSymbolicLink(link, victim);
        File.CreateSymbolicLink(dangling, _dir.File("would-be-created"));

        foreach (string name in new[] { existing, link, dangling })
        {
            var e = Assert.ThrowsAny<IOException>(() => SharedTensorFile.Create(name, 2, 100));
            Assert.Equal($"{name} exists already: refused (a file or link made there by someone else is never reused)", e.Message);
            Assert.ThrowsAny<IOException>(() => SharedMailbox.Create(name, 3));
        }
        AssertUntouched(existing);
        AssertUntouched(victim);
        Assert.Equal(victim, new FileInfo(link).LinkTarget); // the links are still there, as they were
        Assert.False(File.Exists(_dir.File("would-be-created")));
    }

    [Fact]
    public void A_file_open_to_others_a_link_or_another_users_file_is_refused_on_open_and_nothing_is_written_to_it()
    {
        string path = _dir.File("dnn-weights");
        using var owner = SharedTensorFile.Create(path, 1, 16);
        Assert.Equal(Rw, File.GetUnixFileMode(path));
        using (SharedTensorFile.Open(path, 1, 16)) { } // this user's, 600: fine
        byte[] before = File.ReadAllBytes(path);
        File.SetLastWriteTimeUtc(path, OldTime);

        File.SetUnixFileMode(path, Rw | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        Assert.Equal($"{path} has mode 0644: a shared-memory file must be its owner's only (600)",
            Assert.Throws<IOException>(() => SharedTensorFile.Open(path, 1, 16)).Message);
        File.SetUnixFileMode(path, Rw);

        string link = _dir.File("dnn-link");
        File.CreateSymbolicLink(link, path);
        Assert.Equal($"{link} is a symbolic link", Assert.Throws<IOException>(() => SharedTensorFile.Open(link, 1, 16)).Message);

        if (UnixFiles.EffectiveUserId == 0)
        {
            Assert.Equal(0, Chown(path, 65534, 65534)); // nobody
            Assert.Equal($"{path} belongs to uid 65534, not to this process's user (uid 0)",
                Assert.Throws<IOException>(() => SharedTensorFile.Open(path, 1, 16)).Message);
        }
        else output.WriteLine("not running as root: the other-owner case is not exercised (it needs chown to another user)");

        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Equal(OldTime, File.GetLastWriteTimeUtc(path));
    }

    [Fact]
    public async Task A_worker_refuses_a_job_whose_files_are_open_to_others_or_not_the_transports_with_one_line()
    {
        var settings = new LinkSettings(Guid.NewGuid(), ParameterCount: 8, Layers: 2, Shards: 2);
        var pool = new GradientBufferPool(8, 4);
        using var transport = CoordinatorTransport.Create(TransportKind.Shm, settings, pool, new RecordingLinkEvents(), ActorRefs.Nobody);
        var link = await transport.OpenAsync(new WorkerContact(ActorRefs.Nobody, "127.0.0.1", 0, null), CancellationToken.None);
        var files = link.Files!;
        Assert.All(new[] { files.Weights, files.Gradients, files.Mailbox }, f =>
        {
            Assert.Equal(Path.TrimEndingDirectorySeparator(SharedTensorFile.Folder), Path.GetDirectoryName(f));
            Assert.Matches($@"^dnn-{Environment.ProcessId}-\d+-[0-9a-f]{{32}}-(weights|gradients-1|mailbox-1)$", Path.GetFileName(f));
            Assert.Equal(Rw, File.GetUnixFileMode(f));
        });
        using (ShmCoordinatorLink.Open(files, settings)) { } // the transport's own files, this user's: opened

        string victim = Victim();
        string UserError(SharedFiles f) => Assert.Throws<UserErrorException>(() => ShmCoordinatorLink.Open(f, settings)).Message;
        Assert.Equal($"the job names '{victim}' as a shared-memory file: only the transport's dnn-* files in {SharedTensorFile.Folder} are opened",
            UserError(files with { Gradients = victim }));
        string elsewhere = Path.Combine(SharedTensorFile.Folder, "..", Path.GetFileName(files.Mailbox));
        Assert.StartsWith($"the job names '{elsewhere}'", UserError(files with { Mailbox = elsewhere }));
        AssertUntouched(victim);

        File.SetUnixFileMode(files.Gradients, Rw | UnixFileMode.GroupWrite | UnixFileMode.OtherWrite);
        Assert.Equal($"--transport shm needs the workers on the coordinator's machine (as the same user): {files.Gradients} has mode 0622: " +
            "a shared-memory file must be its owner's only (600)", UserError(files));
    }
}
