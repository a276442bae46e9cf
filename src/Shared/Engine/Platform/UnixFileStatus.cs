namespace DistributedNN.Platform;

/// <summary>What <see cref="UnixFiles.Status(Microsoft.Win32.SafeHandles.SafeFileHandle)"/> reports of a file: its owner's uid, permission bits, kind and length.</summary>
internal readonly record struct UnixFileStatus(uint Owner, UnixFileMode Mode, bool IsRegularFile, bool IsSymbolicLink, long Length)
{
    /// <summary>Any permission for the group or others.</summary>
    public bool OpenToOthers => UnixFiles.OpenToOthers(Mode);

    /// <summary>The permission bits as chmod writes them, e.g. 0644.</summary>
    public string Octal => UnixFiles.Octal(Mode);
}
