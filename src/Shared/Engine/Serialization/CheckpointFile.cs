using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text.Json;
using DistributedNN.Model;
using DistributedNN.Training;

namespace DistributedNN.Serialization;

/// <summary>
/// The coordinator's checkpoint file (docs/MODEL_FORMAT.md, "Checkpoint file"): "DNNCKPT\0", u32 version, a length-prefixed
/// UTF-8 JSON header (network, settings, data fingerprint, progress, epochs so far), three length-prefixed float32
/// blocks (parameters, optimizer velocity, optimizer second moment) and, for a run with early stopping, a fourth (the best
/// validation epoch's weights), in version 2 an HMAC-SHA256 of all that under the
/// run's <see cref="CheckpointKey"/>, and a SHA-256 of everything before it. Written atomically (temp file, flush,
/// rename), so a crash leaves the previous checkpoint whole.
/// </summary>
public static class CheckpointFile
{
    public static ReadOnlySpan<byte> Magic => "DNNCKPT\0"u8;
    /// <summary>Without an authentication code.</summary>
    public const uint Version = 1;
    /// <summary>With an HMAC-SHA256 (written with a <see cref="CheckpointKey"/>).</summary>
    public const uint AuthenticatedVersion = 2;
    private const int HashBytes = 32;
    public const string Extension = ".dnnc";
    // a diverging run's last figures may hold ∞ or NaN: written as "Infinity"/"NaN", not a crash at the checkpoint that keeps its progress
    private static readonly JsonSerializerOptions Json = new() { IncludeFields = false, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };

    private sealed record Header(NetworkDescription Network, TrainingSettings Settings, string DataFingerprint, TrainingProgress Progress, EpochResult[] Epochs);

    /// <param name="key">null: version 1; else version 2, authenticated under it</param>
    public static byte[] Encode(Checkpoint c, CheckpointKey? key = null)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("checkpoints are little-endian");
        var header = JsonSerializer.SerializeToUtf8Bytes(new Header(c.Network, c.Settings, c.DataFingerprint, c.Progress, c.Epochs.ToArray()), Json);
        using var ms = new MemoryStream();
        ms.Write(Magic);
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(word, key is null ? Version : AuthenticatedVersion); ms.Write(word);
        BinaryPrimitives.WriteInt32LittleEndian(word, header.Length); ms.Write(word);
        ms.Write(header);
        foreach (var block in new[] { c.Parameters, c.Velocity, c.SecondMoment, c.BestParameters })
        {
            if (block is null) continue;
            BinaryPrimitives.WriteInt32LittleEndian(word, block.Length); ms.Write(word);
            ms.Write(MemoryMarshal.AsBytes(block.AsSpan()));
        }
        if (key is not null) ms.Write(key.Sign(ms.GetBuffer().AsSpan(0, (int)ms.Length)));
        ms.Write(SHA256.HashData(ms.GetBuffer().AsSpan(0, (int)ms.Length)));
        return ms.ToArray();
    }

    /// <param name="key">the run's key: the checkpoint must carry its code; null: it must carry none</param>
    /// <exception cref="DataFormatException">Not a checkpoint, or a damaged one (a resume skips it).</exception>
    /// <exception cref="UserErrorException">Whole, but not authenticated as <paramref name="key"/> asks (a resume stops).</exception>
    public static Checkpoint Decode(ReadOnlySpan<byte> bytes, string name, CheckpointKey? key = null)
    {
        if (bytes.Length < Magic.Length + 4 || !bytes.StartsWith(Magic))
            throw new DataFormatException($"{name}: not a DistributedNN checkpoint");
        uint version = BinaryPrimitives.ReadUInt32LittleEndian(bytes.Slice(Magic.Length, 4));
        if (version is not (Version or AuthenticatedVersion))
            throw new DataFormatException($"{name}: checkpoint format version {version} is not supported (this build reads versions {Version} and {AuthenticatedVersion})");
        int trailer = version == AuthenticatedVersion ? 2 * HashBytes : HashBytes;
        if (bytes.Length < Magic.Length + 8 + trailer || !SHA256.HashData(bytes[..^HashBytes]).AsSpan().SequenceEqual(bytes[^HashBytes..]))
            throw new DataFormatException($"{name}: the checkpoint is truncated or corrupt (checksum mismatch)");
        Authenticate(bytes, version, name, key);
        var body = bytes[(Magic.Length + 4)..^trailer];
        int headerLength = BinaryPrimitives.ReadInt32LittleEndian(body);
        if (headerLength < 0 || headerLength > body.Length - 4) throw new DataFormatException($"{name}: invalid checkpoint header length {headerLength}");
        Header header;
        try { header = JsonSerializer.Deserialize<Header>(body.Slice(4, headerLength), Json) ?? throw new JsonException("empty header"); }
        catch (JsonException e) { throw new DataFormatException($"{name}: invalid checkpoint header ({e.Message.Split('\n')[0]})"); }
        body = body[(4 + headerLength)..];
        var blocks = new float[4][];
        for (int b = 0; b < 4; b++)
        {
            if (b == 3 && body.IsEmpty) break; // the best weights: only with early stopping
            if (body.Length < 4) throw new DataFormatException($"{name}: checkpoint ends inside its data blocks");
            int count = BinaryPrimitives.ReadInt32LittleEndian(body);
            if (count < 0 || (long)count * 4 > body.Length - 4) throw new DataFormatException($"{name}: invalid checkpoint block length {count}");
            blocks[b] = MemoryMarshal.Cast<byte, float>(body.Slice(4, count * 4)).ToArray();
            body = body[(4 + count * 4)..];
        }
        if (!body.IsEmpty) throw new DataFormatException($"{name}: {body.Length} unexpected bytes after the checkpoint's data");
        return new Checkpoint(header.Network, header.Settings, header.DataFingerprint, header.Progress, blocks[0], blocks[1], blocks[2], header.Epochs, blocks[3]);
    }

    /// <summary>
    /// A whole checkpoint is taken only as authenticated as the run is: with a key, it must carry that key's code (a
    /// planted one with a recomputed SHA-256 carries none or a wrong one); without one, it must carry none (a run that
    /// authenticated its checkpoints is not continued without the key by mistake).
    /// </summary>
    private static void Authenticate(ReadOnlySpan<byte> bytes, uint version, string name, CheckpointKey? key)
    {
        if (key is null && version == AuthenticatedVersion)
            throw new UserErrorException($"{name} was written with a {CheckpointKey.Option}: give the same key to resume from it");
        if (key is null) return;
        if (version != AuthenticatedVersion)
            throw new UserErrorException($"{name} was not written with this {CheckpointKey.Option} (it carries no authentication code); not resuming from it");
        if (!key.Verify(bytes[..^(2 * HashBytes)], bytes[^(2 * HashBytes)..^HashBytes]))
            throw new UserErrorException($"{name} was not written with this {CheckpointKey.Option} (its authentication code does not match); not resuming from it");
    }

    public static Checkpoint Load(string path, CheckpointKey? key = null)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new DataFormatException($"{path}: cannot read the checkpoint ({e.Message})"); }
        return Decode(bytes, path, key);
    }

    /// <summary>The state of <paramref name="state"/> as a checkpoint.</summary>
    public static Checkpoint Capture(TrainingState state, string dataFingerprint, IReadOnlyList<EpochResult> epochs) => new(
        state.Spec.ToDescription(), state.Settings, dataFingerprint, state.Progress,
        (float[])state.Parameters.Clone(), (float[])state.Optimizer.Velocity.Clone(), (float[])state.Optimizer.SecondMoment.Clone(), epochs.ToArray(),
        (float[]?)state.EarlyStopping?.BestParameters.Clone());

    /// <summary>A run continued from <paramref name="c"/>: its network, settings, weights, optimizer state and position.</summary>
    public static TrainingState Restore(Checkpoint c, int trainCount)
    {
        var spec = c.Network.ToSpec();
        if (c.Parameters.Length != spec.ParameterCount) throw new DataFormatException($"the checkpoint holds {c.Parameters.Length} parameters for a network of {spec.ParameterCount}");
        var state = new TrainingState(spec, (float[])c.Parameters.Clone(), c.Settings, trainCount);
        if (c.Velocity.Length != state.Optimizer.Velocity.Length || c.SecondMoment.Length != state.Optimizer.SecondMoment.Length)
            throw new DataFormatException("the checkpoint's optimizer state does not match its optimizer");
        c.Velocity.CopyTo(state.Optimizer.Velocity, 0);
        c.SecondMoment.CopyTo(state.Optimizer.SecondMoment, 0);
        try { state.Restore(c.Progress, c.BestParameters); }
        catch (ArgumentException e) { throw new DataFormatException($"the checkpoint does not fit: {e.Message}"); }
        return state;
    }
}
