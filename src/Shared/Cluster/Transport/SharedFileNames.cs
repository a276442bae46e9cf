using System.Globalization;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using DistributedNN.Platform;
using Serilog;

namespace DistributedNN.Transport;

/// <summary>
/// Names of the shm transport's files: <c>dnn-&lt;pid&gt;-&lt;start&gt;-&lt;128 random bits&gt;-&lt;role&gt;</c> in
/// <see cref="SharedTensorFile.Folder"/>. Nobody can guess a name to plant a file or link there before the coordinator
/// creates it; the creator's pid and start time (clock ticks after boot, /proc/PID/stat) tell whether the run that made
/// a file is still alive, so the files of a run that was killed are swept by the next (<see cref="SweepDeadRuns"/>).
/// </summary>
internal static partial class SharedFileNames
{
    private const string Prefix = "dnn-";
    private static readonly (int Pid, long Start) Self = (Environment.ProcessId, OwnStartTime());

    private static long OwnStartTime()
    {
        try { return OperatingSystem.IsLinux() ? StartTime(Environment.ProcessId) ?? 0 : 0; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return 0; }
    }

    /// <summary>A new name for a file of this process; <paramref name="role"/> says which (weights, gradients-3, mailbox-3).</summary>
    public static string New(string role) => Path.Combine(SharedTensorFile.Folder,
        $"{Prefix}{Self.Pid}-{Self.Start}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16))}-{role}");

    /// <summary>Whether a worker may open <paramref name="path"/>: a name of ours, right in the shm folder (a job cannot point it anywhere else).</summary>
    public static bool IsShared(string path) =>
        Path.GetDirectoryName(path) is { } dir && Path.GetFullPath(dir) == Path.TrimEndingDirectorySeparator(Path.GetFullPath(SharedTensorFile.Folder)) &&
        Creator(Path.GetFileName(path)) is not null;

    [GeneratedRegex(@"^dnn-(\d{1,10})-(\d{1,20})-[0-9a-f]{32}-[a-z0-9-]+$")]
    private static partial Regex NamePattern();

    private static (int Pid, long Start)? Creator(string fileName) =>
        NamePattern().Match(fileName) is { Success: true } m && int.TryParse(m.Groups[1].ValueSpan, CultureInfo.InvariantCulture, out int pid) &&
        long.TryParse(m.Groups[2].ValueSpan, CultureInfo.InvariantCulture, out long start) ? (pid, start) : null;

    /// <summary>
    /// Deletes the files in <paramref name="folder"/> named by this scheme whose creating process is gone (no such pid,
    /// or a pid reused by a process that started at another time), when they are regular files of this user; files of
    /// other users, of live processes, links and other names are left alone. Linux only (elsewhere: nothing).
    /// </summary>
    /// <returns>the files deleted</returns>
    public static IReadOnlyList<string> SweepDeadRuns(string folder)
    {
        var removed = new List<string>();
        if (!UnixFiles.HasOwnerChecks || !Directory.Exists(folder)) return removed;
        foreach (string path in Directory.EnumerateFiles(folder, Prefix + "*"))
        {
            if (Creator(Path.GetFileName(path)) is not { } creator || creator == Self || IsAlive(creator)) continue;
            try
            {
                if (UnixFiles.Status(path) is not { IsRegularFile: true } status || status.Owner != UnixFiles.EffectiveUserId) continue;
                File.Delete(path); // unlink: the entry itself
                removed.Add(path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
        if (removed.Count > 0) Log.Information("Removed {Count} shared-memory files left in {Folder} by runs that ended without cleaning up", removed.Count, folder);
        return removed;
    }

    /// <summary>Whether the process that made a file may still run: anything but "no such process" (or another one under its pid) counts as alive.</summary>
    private static bool IsAlive((int Pid, long Start) creator)
    {
        try { return StartTime(creator.Pid) is not { } start || start == creator.Start; }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException) { return false; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return true; }
    }

    /// <summary>Field 22 of /proc/PID/stat, the process's start in clock ticks after boot (null: unreadable).</summary>
    /// <exception cref="DirectoryNotFoundException">No such process.</exception>
    internal static long? StartTime(int pid)
    {
        string text = File.ReadAllText($"/proc/{pid}/stat");
        // the command name (field 2) may hold spaces and parentheses: count the fields after its closing one
        int end = text.LastIndexOf(')');
        var fields = end < 0 || end + 2 > text.Length ? [] : text[(end + 2)..].Split(' ');
        return fields.Length > 19 && long.TryParse(fields[19], CultureInfo.InvariantCulture, out long start) ? start : null;
    }
}
