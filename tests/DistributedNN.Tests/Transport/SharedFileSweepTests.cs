using System.Runtime.InteropServices;
using System.Security.Cryptography;
using DistributedNN.Platform;
using DistributedNN.Transport;
using Xunit.Abstractions;

namespace DistributedNN.Tests.Transport;

/// <summary>
/// The sweep of shm files left by killed runs: a file whose creating process is gone (or whose pid now belongs to a
/// process that started later) is deleted; files of live processes, of other users, links and other names are kept.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class SharedFileSweepTests(ITestOutputHelper output) : IDisposable
{
    private const int NoSuchPid = 4_194_999; // above Linux's largest pid (2^22)
    private readonly TempDirectory _dir = new();
    public void Dispose() => _dir.Dispose();

    [DllImport("libc", EntryPoint = "lchown", SetLastError = true)]
    private static extern int Lchown([MarshalAs(UnmanagedType.LPUTF8Str)] string path, uint owner, uint group);

    private string Make(int pid, long start, string role = "weights", string? folder = null)
    {
        string path = Path.Combine(folder ?? _dir.Path, $"dnn-{pid}-{start}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16))}-{role}");
        File.WriteAllText(path, "x");
        return path;
    }

    [Fact]
    public void Files_of_dead_runs_are_deleted_and_those_of_live_processes_other_users_links_and_other_names_kept()
    {
        if (!OperatingSystem.IsLinux()) return; // the sweep reads /proc
        long self = SharedFileNames.StartTime(Environment.ProcessId)!.Value, init = SharedFileNames.StartTime(1)!.Value;
        string dead = Make(NoSuchPid, 12345, "mailbox-2");
        string reused = Make(Environment.ProcessId, self + 1, "gradients-1"); // this pid, but the process that had it started earlier
        string ours = Make(Environment.ProcessId, self);
        string live = Make(1, init);
        string other = Make(NoSuchPid, 1, "weights");
        File.Move(other, _dir.File("dnn-not-our-scheme"));
        string target = _dir.File("target");
        File.WriteAllText(target, "kept");
        string link = Path.Combine(_dir.Path, $"dnn-{NoSuchPid}-1-{new string('a', 32)}-weights");
        File.CreateSymbolicLink(link, target);
        string? foreign = null;
        if (UnixFiles.EffectiveUserId == 0)
        {
            foreign = Make(NoSuchPid, 7);
            Assert.Equal(0, Lchown(foreign, 65534, 65534));
        }
        else output.WriteLine("not running as root: the other user's file is not exercised (it needs chown)");

        var removed = SharedFileNames.SweepDeadRuns(_dir.Path);

        Assert.Equal(new[] { dead, reused }.Order(StringComparer.Ordinal), removed.Order(StringComparer.Ordinal));
        Assert.False(File.Exists(dead));
        Assert.False(File.Exists(reused));
        Assert.True(File.Exists(ours));
        Assert.True(File.Exists(live));
        Assert.True(File.Exists(_dir.File("dnn-not-our-scheme")));
        Assert.Equal(target, new FileInfo(link).LinkTarget);
        Assert.Equal("kept", File.ReadAllText(target));
        if (foreign is not null) Assert.True(File.Exists(foreign));
    }

    [Fact]
    public void A_new_shm_transport_sweeps_the_files_a_killed_run_left_in_the_shm_folder()
    {
        if (!OperatingSystem.IsLinux()) return;
        string left = Make(NoSuchPid, 99, "mailbox-1", SharedTensorFile.Folder);
        string mine = Make(Environment.ProcessId, SharedFileNames.StartTime(Environment.ProcessId)!.Value, "weights", SharedTensorFile.Folder);
        try
        {
            var settings = new LinkSettings(Guid.NewGuid(), 4, 1, 1);
            using (CoordinatorTransport.Create(TransportKind.Shm, settings, new GradientBufferPool(4, 2), new RecordingLinkEvents(), Akka.Actor.ActorRefs.Nobody))
            {
                Assert.False(File.Exists(left));
                Assert.True(File.Exists(mine));
            }
        }
        finally
        {
            File.Delete(left);
            File.Delete(mine);
        }
    }
}
