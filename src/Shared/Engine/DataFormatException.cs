namespace DistributedNN;

/// <summary>A data, model or checkpoint file that cannot be read: missing, truncated, corrupt, wrong format.</summary>
/// <param name="withoutContents">
/// The message without the bytes of the file it quotes (a field, a line), when it quotes any: what a worker tells its
/// coordinator, which may have named a file the worker can read but the coordinator must not (<see cref="WithoutContents"/>).
/// </param>
public sealed class DataFormatException(string message, Exception? inner = null, string? withoutContents = null) : UserErrorException(message, inner)
{
    /// <summary>The problem, naming the file and the place, without any of the file's contents.</summary>
    public string WithoutContents { get; } = withoutContents ?? message;
}
