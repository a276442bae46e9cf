using System.IO.MemoryMappedFiles;

namespace DistributedNN.Transport;

/// <summary>
/// A file mapped into memory for sharing with other processes on this machine: created (mode 600, this user only)
/// and deleted by its owner, opened by the others; <see cref="Base"/> points at its first byte while it is open.
/// </summary>
internal sealed unsafe class SharedMapping : IDisposable
{
    private readonly MemoryMappedFile _file;
    private readonly MemoryMappedViewAccessor _view;
    private readonly bool _owner;
    private int _disposed;

    private SharedMapping(string path, long bytes, bool owner)
    {
        Path = path;
        _owner = owner;
        _file = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, bytes, MemoryMappedFileAccess.ReadWrite);
        _view = _file.CreateViewAccessor(0, bytes);
        byte* p = null;
        _view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
        Base = p + _view.PointerOffset;
    }

    public string Path { get; }
    public byte* Base { get; }

    /// <summary>Creates (or replaces) a zeroed file of <paramref name="bytes"/>, readable and writable by this user only.</summary>
    public static SharedMapping Create(string path, long bytes)
    {
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.ReadWrite, Share = FileShare.ReadWrite };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using (var stream = new FileStream(path, options)) stream.SetLength(bytes);
        return new SharedMapping(path, bytes, owner: true);
    }

    /// <summary>Opens a file another process created.</summary>
    /// <exception cref="IOException">It is missing or not <paramref name="bytes"/> long.</exception>
    public static SharedMapping Open(string path, long bytes)
    {
        var info = new FileInfo(path);
        if (!info.Exists) throw new FileNotFoundException($"{path} does not exist", path);
        if (info.Length != bytes) throw new IOException($"{path} holds {info.Length} bytes, not the {bytes} expected");
        return new SharedMapping(path, bytes, owner: false);
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _file.Dispose();
        if (_owner)
        {
            try { File.Delete(Path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }
}
