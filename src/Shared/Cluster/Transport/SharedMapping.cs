using System.IO.MemoryMappedFiles;
using DistributedNN.Platform;
using Microsoft.Win32.SafeHandles;

namespace DistributedNN.Transport;

/// <summary>
/// A file mapped into memory for sharing with other processes on this machine, as the same user: created new by its
/// owner (exclusive, never through a file or link already at the name, mode 600 from creation) and deleted by it;
/// opened by the others only when the open file (not the path, which could change meanwhile) is a regular file of
/// theirs that nobody else may read or write, of the expected size. <see cref="Base"/> points at its first byte while
/// it is open.
/// </summary>
internal sealed unsafe class SharedMapping : IDisposable
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private readonly MemoryMappedFile _file;
    private readonly MemoryMappedViewAccessor _view;
    private readonly bool _owner;
    private int _disposed;

    private SharedMapping(MemoryMappedFile file, string path, long bytes, bool owner)
    {
        Path = path;
        _owner = owner;
        _file = file;
        _view = _file.CreateViewAccessor(0, bytes);
        byte* p = null;
        _view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
        Base = p + _view.PointerOffset;
    }

    public string Path { get; }
    public byte* Base { get; }

    /// <summary>Creates a new zeroed file of <paramref name="bytes"/>, readable and writable by this user only.</summary>
    /// <exception cref="IOException">Something is at <paramref name="path"/> already (it is left as it is).</exception>
    public static SharedMapping Create(string path, long bytes)
    {
        var file = UnixFiles.HasOwnerChecks ? CreateNew(path, bytes) : CreatePortable(path, bytes);
        try { return new SharedMapping(file, path, bytes, owner: true); }
        catch
        {
            file.Dispose();
            DeleteCreated(path);
            throw;
        }
    }

    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    private static MemoryMappedFile CreateNew(string path, long bytes)
    {
        var handle = UnixFiles.CreateNew(path, OwnerOnly); // throws, creating nothing, when anything is at the path
        try
        {
            File.SetUnixFileMode(handle, OwnerOnly); // whatever the umask took away
            RandomAccess.SetLength(handle, bytes);
            return MemoryMappedFile.CreateFromFile(handle, null, bytes, MemoryMappedFileAccess.ReadWrite, HandleInheritability.None, leaveOpen: false);
        }
        catch
        {
            handle.Dispose();
            DeleteCreated(path);
            throw;
        }
    }

    /// <summary>Where libc's open is not called: .NET's O_CREAT|O_EXCL (which does not follow a link either), mode 600.</summary>
    private static MemoryMappedFile CreatePortable(string path, long bytes)
    {
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.ReadWrite, Share = FileShare.ReadWrite };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = OwnerOnly;
        var stream = new FileStream(path, options);
        try
        {
            stream.SetLength(bytes);
            return MemoryMappedFile.CreateFromFile(stream, null, bytes, MemoryMappedFileAccess.ReadWrite, HandleInheritability.None, leaveOpen: false);
        }
        catch
        {
            stream.Dispose();
            DeleteCreated(path);
            throw;
        }
    }

    /// <summary>Removes a file this process created and failed to set up.</summary>
    private static void DeleteCreated(string path)
    {
        try { File.Delete(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    /// <summary>Opens a file another process of this user created.</summary>
    /// <exception cref="IOException">It is missing, a link, not a regular file, another user's, open to others, or not <paramref name="bytes"/> long.</exception>
    public static SharedMapping Open(string path, long bytes)
    {
        var handle = OpenChecked(path, bytes);
        try
        {
            var file = MemoryMappedFile.CreateFromFile(handle, null, bytes, MemoryMappedFileAccess.ReadWrite, HandleInheritability.None, leaveOpen: false);
            return new SharedMapping(file, path, bytes, owner: false);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    private static SafeFileHandle OpenChecked(string path, long bytes)
    {
        if (!UnixFiles.HasOwnerChecks) return OpenPortable(path, bytes);
        var handle = UnixFiles.OpenNoFollow(path);
        var status = UnixFiles.Status(handle); // of the file opened: no swap between the check and the mapping
        string? refusal =
            !status.IsRegularFile ? $"{path} is not a regular file" :
            status.Owner != UnixFiles.EffectiveUserId ? $"{path} belongs to uid {status.Owner}, not to this process's user (uid {UnixFiles.EffectiveUserId})" :
            status.OpenToOthers ? $"{path} has mode {status.Octal}: a shared-memory file must be its owner's only (600)" :
            status.Length != bytes ? $"{path} holds {status.Length} bytes, not the {bytes} expected" : null;
        if (refusal is null) return handle;
        handle.Dispose();
        throw new IOException(refusal);
    }

    /// <summary>Where there is no O_NOFOLLOW or owner to check: the mode and the size of the open file.</summary>
    private static SafeFileHandle OpenPortable(string path, long bytes)
    {
        var handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
        long length = RandomAccess.GetLength(handle);
        string? refusal =
            !OperatingSystem.IsWindows() && File.GetUnixFileMode(handle) is var mode && UnixFiles.OpenToOthers(mode)
                ? $"{path} has mode {UnixFiles.Octal(mode)}: a shared-memory file must be its owner's only (600)" :
            length != bytes ? $"{path} holds {length} bytes, not the {bytes} expected" : null;
        if (refusal is null) return handle;
        handle.Dispose();
        throw new IOException(refusal);
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _file.Dispose();
        if (_owner) DeleteCreated(Path);
    }
}
