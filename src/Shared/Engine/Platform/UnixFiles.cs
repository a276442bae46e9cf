using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace DistributedNN.Platform;

/// <summary>
/// What .NET's file API does not give on Unix, through libc: creating and opening a file without following a symbolic
/// link (O_EXCL, O_NOFOLLOW), the owner and mode of an open descriptor (statx on the descriptor, so the file cannot be
/// swapped between the check and its use), a directory's fsync (so a rename in it survives a crash), the umask and the
/// effective user. The opens and the status are Linux's (<see cref="HasOwnerChecks"/>); elsewhere callers fall back to
/// what .NET offers.
/// </summary>
internal static unsafe class UnixFiles
{
    private const int ENOENT = 2, ELOOP = 40, EINVAL = 22, EACCES = 13, EPERM = 1, EEXIST = 17;
    private const int ORdOnly = 0, ORdWr = 2, OCreat = 0x40, OExcl = 0x80, OCloExec = 0x80000;
    private const int AtFdCwd = -100, AtSymlinkNoFollow = 0x100, AtEmptyPath = 0x1000;
    private const uint StatxType = 0x1, StatxMode = 0x2, StatxUid = 0x8, StatxSize = 0x200;
    private const int SIfMt = 0xF000, SIfReg = 0x8000, SIfLnk = 0xA000;

    /// <summary>Whether <see cref="CreateNew"/>, <see cref="OpenNoFollow"/> and the status calls are available (Linux).</summary>
    [System.Runtime.Versioning.SupportedOSPlatformGuard("linux")]
    public static bool HasOwnerChecks => OperatingSystem.IsLinux();

    // Linux's O_NOFOLLOW: 0x8000 where O_DIRECTORY is 0x4000 (arm, arm64, powerpc), 0x20000 on x86 and the generic layout
    private static int ONoFollow => RuntimeInformation.ProcessArchitecture is Architecture.Arm or Architecture.Arm64 or Architecture.Ppc64le ? 0x8000 : 0x20000;

    [DllImport("libc", EntryPoint = "open", SetLastError = true)]
    private static extern int Open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

    // open(2) is variadic; on Linux x64 and arm64 its mode travels in the register a fixed third argument uses
    [DllImport("libc", EntryPoint = "open", SetLastError = true)]
    private static extern int Open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, uint mode);

    [DllImport("libc", EntryPoint = "close", SetLastError = true)]
    private static extern int Close(int fd);

    [DllImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static extern int Fsync(int fd);

    [DllImport("libc", EntryPoint = "statx", SetLastError = true)]
    private static extern int Statx(int dirfd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, uint mask, byte* buffer);

    [DllImport("libc", EntryPoint = "geteuid")]
    private static extern uint GetEffectiveUserId();

    /// <summary>Whether <paramref name="mode"/> gives the group or others any permission (read, write or execute).</summary>
    public static bool OpenToOthers(UnixFileMode mode) => (mode & (UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute |
        UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute)) != 0;

    /// <summary>The permission bits as chmod writes them, e.g. 0644.</summary>
    public static string Octal(UnixFileMode mode) => "0" + Convert.ToString((int)mode & 0x1FF, 8).PadLeft(3, '0');

    /// <summary>The user this process acts as.</summary>
    public static uint EffectiveUserId => OperatingSystem.IsWindows() ? 0 : GetEffectiveUserId();

    /// <summary>
    /// Creates a new file for reading and writing with <paramref name="mode"/> (less the umask) from its creation:
    /// O_CREAT|O_EXCL|O_NOFOLLOW, so a file or a symbolic link already at <paramref name="path"/> is refused, never
    /// opened or followed (Linux).
    /// </summary>
    /// <exception cref="IOException">Something is at the path, or the creation failed.</exception>
    public static SafeFileHandle CreateNew(string path, UnixFileMode mode)
    {
        int fd = Open(path, ORdWr | OCreat | OExcl | ONoFollow | OCloExec, (uint)mode);
        if (fd >= 0) return new SafeFileHandle(fd, ownsHandle: true);
        int errno = Marshal.GetLastPInvokeError();
        throw errno switch
        {
            EEXIST => new IOException($"{path} exists already: refused (a file or link made there by someone else is never reused)"),
            EACCES or EPERM => new UnauthorizedAccessException($"{path}: {Marshal.GetPInvokeErrorMessage(errno)}"),
            _ => new IOException($"{path}: {Marshal.GetPInvokeErrorMessage(errno)}"),
        };
    }

    /// <summary>Opens an existing file for reading and writing, refusing a symbolic link at <paramref name="path"/> (Linux).</summary>
    /// <exception cref="FileNotFoundException">Nothing is there.</exception>
    /// <exception cref="IOException">A symbolic link is there, or the open failed.</exception>
    public static SafeFileHandle OpenNoFollow(string path)
    {
        int fd = Open(path, ORdWr | ONoFollow | OCloExec);
        if (fd >= 0) return new SafeFileHandle(fd, ownsHandle: true);
        int errno = Marshal.GetLastPInvokeError();
        throw errno switch
        {
            ENOENT => new FileNotFoundException($"{path} does not exist", path),
            ELOOP => new IOException($"{path} is a symbolic link"),
            EACCES or EPERM => new UnauthorizedAccessException($"{path}: {Marshal.GetPInvokeErrorMessage(errno)}"),
            _ => new IOException($"{path}: {Marshal.GetPInvokeErrorMessage(errno)}"),
        };
    }

    /// <summary>The owner, mode, kind and length of the open file (fstat of the descriptor).</summary>
    public static UnixFileStatus Status(SafeFileHandle file)
    {
        bool added = false;
        try
        {
            file.DangerousAddRef(ref added);
            return Stat((int)file.DangerousGetHandle(), "", AtEmptyPath) ?? throw new IOException("the file vanished while open");
        }
        finally
        {
            if (added) file.DangerousRelease();
        }
    }

    /// <summary>The status of what is at <paramref name="path"/>, a symbolic link itself rather than its target; null when nothing is there.</summary>
    public static UnixFileStatus? Status(string path) => Stat(AtFdCwd, path, AtSymlinkNoFollow);

    private static UnixFileStatus? Stat(int dirfd, string path, int flags)
    {
        // struct statx is the same on every architecture: uid at 20, mode (u16) at 28, size at 40
        byte* buffer = stackalloc byte[256];
        if (Statx(dirfd, path, flags, StatxType | StatxMode | StatxUid | StatxSize, buffer) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno == ENOENT) return null;
            throw new IOException($"{(path.Length == 0 ? "an open file" : path)}: cannot read its status ({Marshal.GetPInvokeErrorMessage(errno)})");
        }
        uint uid = *(uint*)(buffer + 20);
        int mode = *(ushort*)(buffer + 28);
        long length = *(long*)(buffer + 40);
        return new UnixFileStatus(uid, (UnixFileMode)(mode & 0xFFF), (mode & SIfMt) == SIfReg, (mode & SIfMt) == SIfLnk, length);
    }

    /// <summary>
    /// Flushes <paramref name="directory"/>'s entries to disk, so that a file just renamed into it is there after a crash.
    /// A folder this user may write into but not read, or a file system that cannot sync a directory (EINVAL), is left as
    /// it is (the rename is done, only its durability is the file system's); nothing happens on Windows.
    /// </summary>
    /// <exception cref="IOException">The sync failed.</exception>
    public static void SyncDirectory(string directory)
    {
        if (OperatingSystem.IsWindows()) return;
        int fd = Open(directory, ORdOnly | (OperatingSystem.IsLinux() ? OCloExec : 0));
        if (fd < 0) return;
        try
        {
            if (Fsync(fd) != 0 && Marshal.GetLastPInvokeError() is var errno && errno != EINVAL)
                throw new IOException($"{directory}: cannot sync the folder ({Marshal.GetPInvokeErrorMessage(errno)})");
        }
        finally
        {
            Close(fd);
        }
    }

    /// <summary>
    /// The process's umask (the permissions new files are created without), from /proc/self/status on Linux; 022 where
    /// it cannot be read (setting it to read it would race with other threads creating files).
    /// </summary>
    public static UnixFileMode Umask { get; } = ReadUmask();

    private static UnixFileMode ReadUmask()
    {
        const UnixFileMode usual = UnixFileMode.GroupWrite | UnixFileMode.OtherWrite;
        try
        {
            if (!OperatingSystem.IsLinux()) return usual;
            string? line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("Umask:", StringComparison.Ordinal));
            return line is null ? usual : (UnixFileMode)Convert.ToInt32(line["Umask:".Length..].Trim(), 8);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            return usual;
        }
    }
}
