namespace DistributedNN.Platform;

/// <summary>What <see cref="UnixFiles.Status(Microsoft.Win32.SafeHandles.SafeFileHandle)"/> reports of a file: its owner's uid, permission bits, kind and length.</summary>
internal readonly record struct UnixFileStatus(uint Owner, UnixFileMode Mode, bool IsRegularFile, bool IsSymbolicLink, long Length)
{
    /// <summary>Any permission for the group or others (rwx of both).</summary>
    public bool OpenToOthers => (Mode & (UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute |
        UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute)) != 0;

    /// <summary>The permission bits as ls and chmod write them, e.g. 0644.</summary>
    public string Octal => "0" + Convert.ToString((int)Mode & 0x1FF, 8);
}
