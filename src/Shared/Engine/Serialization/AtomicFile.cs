using System.Security.Cryptography;
using DistributedNN.Platform;

namespace DistributedNN.Serialization;

/// <summary>
/// Write-then-rename, so a reader never sees a half-written file: the bytes go into a new temp file beside the target
/// (a random name, created exclusively and readable by this user only from its first byte, so nothing planted in the
/// folder is written through or reused), are flushed to disk, the file takes its final mode, is renamed over the target
/// (a symbolic link there is replaced, not followed), and the folder is synced so the rename survives a crash.
/// </summary>
public static class AtomicFile
{
    /// <summary>rw------- : checkpoints, keys.</summary>
    public const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>rw-r--r-- less the umask (what a plain write leaves): models, exports, a run folder's files.</summary>
    public const UnixFileMode Public = Private | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    /// <param name="mode">the file's final permissions (<see cref="Public"/> less the umask, <see cref="Private"/> as it is)</param>
    /// <param name="overwrite">false: refuse when the target exists (checked by the rename itself, so no race)</param>
    /// <exception cref="UserErrorException">The file cannot be written, or exists and <paramref name="overwrite"/> is false.</exception>
    public static void Write(string path, ReadOnlySpan<byte> bytes, UnixFileMode mode = Public, bool overwrite = true)
    {
        string full = Path.GetFullPath(path);
        string dir = Path.GetDirectoryName(full) ?? ".";
        string? temp = null;
        try
        {
            Directory.CreateDirectory(dir);
            var (stream, created) = CreateTemp(full);
            temp = created;
            using (stream)
            {
                stream.Write(bytes);
                stream.Flush(flushToDisk: true);
                if (!OperatingSystem.IsWindows() && mode != Private) File.SetUnixFileMode(stream.SafeFileHandle, mode & ~UnixFiles.Umask);
            }
            if (!overwrite && File.Exists(full)) throw new UserErrorException($"{path}: the file exists already");
            File.Move(created, full, overwrite); // without overwrite: link + unlink, which fails if the target appeared meanwhile
            temp = null;
            UnixFiles.SyncDirectory(dir);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UserErrorException(!overwrite && File.Exists(full)
                ? $"{path}: the file exists already"
                : $"{path}: cannot write the file ({e.Message})", e);
        }
        finally
        {
            if (temp is not null) TryDelete(temp);
        }
    }

    /// <summary>
    /// A new, empty temp file beside <paramref name="target"/> (".NAME.&lt;128 random bits&gt;.tmp"), opened for writing;
    /// O_CREAT|O_EXCL (which never follows a symbolic link) with mode 600.
    /// </summary>
    internal static (FileStream Stream, string Path) CreateTemp(string target)
    {
        string name = $".{Path.GetFileName(target)}.{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16))}.tmp";
        string path = Path.Combine(Path.GetDirectoryName(target) ?? ".", name);
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = Private;
        return (new FileStream(path, options), path);
    }

    private static void TryDelete(string path)
    {
        try { File.Delete(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }
}
