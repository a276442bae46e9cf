using System.Security.Cryptography;
using DistributedNN.Platform;

namespace DistributedNN.Serialization;

/// <summary>
/// The secret of `train --checkpoint-key FILE`: checkpoints carry an HMAC-SHA256 of their content under it, and a resume
/// with it takes only checkpoints that carry the right one, so a checkpoint planted in the folder (with a recomputed
/// SHA-256) is refused. The file's bytes are the key: at least <see cref="MinBytes"/> of them, and the file
/// accessible by its owner only (like ssh's private keys).
/// </summary>
public sealed class CheckpointKey
{
    public const int MinBytes = 32;
    public const string Option = "--checkpoint-key";
    private readonly byte[] _secret;

    private CheckpointKey(byte[] secret, string path) => (_secret, Path) = (secret, path);

    /// <summary>The key file it was read from.</summary>
    public string Path { get; }

    /// <exception cref="UserErrorException">The file cannot be read, is too short, or others may read it.</exception>
    public static CheckpointKey Load(string path)
    {
        byte[] secret;
        try
        {
            using var file = File.OpenHandle(path, FileMode.Open, FileAccess.Read);
            // the mode of the file opened (fstat), not of whatever the path names a moment later
            if (!OperatingSystem.IsWindows() && File.GetUnixFileMode(file) is var mode && UnixFiles.OpenToOthers(mode))
                throw new UserErrorException($"{Option} {path}: permissions {UnixFiles.Octal(mode)} are too open: the key must be readable by its owner only (chmod 600 {path})");
            long length = RandomAccess.GetLength(file);
            if (length > 1 << 20) throw new UserErrorException($"{Option} {path}: {length} bytes is not a key (at most 1 MiB)");
            secret = new byte[length];
            for (int read = 0, n; read < secret.Length; read += n)
                if ((n = RandomAccess.Read(file, secret.AsSpan(read), read)) == 0) throw new IOException("the file shrank while read");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UserErrorException($"{Option} {path}: cannot read the key ({e.Message.TrimEnd('.')})");
        }
        if (secret.Length < MinBytes)
            throw new UserErrorException($"{Option} {path}: the key holds {secret.Length} bytes, at least {MinBytes} are needed (e.g. head -c 32 /dev/urandom > {path})");
        return new CheckpointKey(secret, path);
    }

    /// <summary>The authentication code of <paramref name="content"/> (32 bytes).</summary>
    public byte[] Sign(ReadOnlySpan<byte> content) => HMACSHA256.HashData(_secret, content);

    /// <summary>Whether <paramref name="code"/> is <paramref name="content"/>'s code under this key (in constant time).</summary>
    public bool Verify(ReadOnlySpan<byte> content, ReadOnlySpan<byte> code) => CryptographicOperations.FixedTimeEquals(Sign(content), code);
}
