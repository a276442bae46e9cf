using DistributedNN.Training;

namespace DistributedNN.Serialization;

/// <summary>
/// Writes checkpoints into a folder — every <see cref="Every"/> steps and at each epoch's end, readable by this user
/// only, authenticated when the run has a <see cref="CheckpointKey"/> — keeping the newest few, and finds the newest
/// readable one to resume from.
/// </summary>
public sealed class Checkpointer(string directory, int every, string dataFingerprint, CheckpointKey? key = null)
{
    public const int Keep = 3;
    public string Directory { get; } = directory;
    public int Every { get; } = every;

    public static string FileName(long steps) => $"ckpt-{steps:D10}{CheckpointFile.Extension}";

    /// <summary>Called after each applied step (and after each epoch end): writes when due.</summary>
    public void AfterStep(TrainingState state, IReadOnlyList<EpochResult> epochs, bool epochEnded)
    {
        if (!epochEnded && (Every <= 0 || state.Steps % Every != 0)) return;
        Save(state, epochs);
    }

    public string Save(TrainingState state, IReadOnlyList<EpochResult> epochs)
    {
        string path = Path.Combine(Directory, FileName(state.Steps));
        AtomicFile.Write(path, CheckpointFile.Encode(CheckpointFile.Capture(state, dataFingerprint, epochs), key), AtomicFile.Private);
        foreach (var old in Existing(Directory).Skip(Keep))
            try { File.Delete(old); } catch (IOException) { }
        return path;
    }

    /// <summary>Checkpoint files in <paramref name="directory"/>, newest first.</summary>
    public static IEnumerable<string> Existing(string directory) =>
        System.IO.Directory.Exists(directory)
            ? System.IO.Directory.GetFiles(directory, "ckpt-*" + CheckpointFile.Extension).OrderByDescending(f => f, StringComparer.Ordinal)
            : [];

    /// <summary>
    /// The newest checkpoint that reads back whole; corrupt or half-written ones are skipped with a warning, a whole one
    /// not authenticated as <paramref name="key"/> asks (<see cref="CheckpointFile.Decode"/>) stops the search.
    /// </summary>
    /// <exception cref="UserErrorException">No readable checkpoint, or the newest whole one is refused.</exception>
    public static (Checkpoint Checkpoint, string Path) Latest(string directory, Action<string> warn, CheckpointKey? key = null)
    {
        if (!System.IO.Directory.Exists(directory)) throw new UserErrorException($"--resume {directory}: no such directory");
        foreach (var file in Existing(directory))
        {
            try { return (CheckpointFile.Load(file, key), file); }
            catch (DataFormatException e) { warn($"skipping checkpoint {e.Message}"); }
        }
        throw new UserErrorException($"--resume {directory}: no readable checkpoint there (files ckpt-*{CheckpointFile.Extension})");
    }
}
