using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text.Json;
using DistributedNN.Model;
using DistributedNN.Training;

namespace DistributedNN.Serialization;

/// <summary>
/// The coordinator's checkpoint file (docs/CHECKPOINTS.md): "DNNCKPT\0", u32 version, a length-prefixed
/// UTF-8 JSON header (network, settings, data fingerprint, progress, epochs so far), three
/// length-prefixed float32 blocks (parameters, optimizer velocity, optimizer second moment) and a
/// SHA-256 of all that. Written atomically (temp file, flush, rename), so a crash leaves the previous
/// checkpoint whole.
/// </summary>
public static class CheckpointFile
{
    public static ReadOnlySpan<byte> Magic => "DNNCKPT\0"u8;
    public const uint Version = 1;
    public const string Extension = ".dnnc";
    // a diverging run's last figures may hold ∞ or NaN: written as "Infinity"/"NaN", not a crash at the checkpoint that keeps its progress
    private static readonly JsonSerializerOptions Json = new() { IncludeFields = false, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };

    private sealed record Header(NetworkDescription Network, TrainingSettings Settings, string DataFingerprint, TrainingProgress Progress, EpochResult[] Epochs);

    public static byte[] Encode(Checkpoint c)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("checkpoints are little-endian");
        var header = JsonSerializer.SerializeToUtf8Bytes(new Header(c.Network, c.Settings, c.DataFingerprint, c.Progress, c.Epochs.ToArray()), Json);
        using var ms = new MemoryStream();
        ms.Write(Magic);
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(word, Version); ms.Write(word);
        BinaryPrimitives.WriteInt32LittleEndian(word, header.Length); ms.Write(word);
        ms.Write(header);
        foreach (var block in new[] { c.Parameters, c.Velocity, c.SecondMoment })
        {
            BinaryPrimitives.WriteInt32LittleEndian(word, block.Length); ms.Write(word);
            ms.Write(MemoryMarshal.AsBytes(block.AsSpan()));
        }
        ms.Write(SHA256.HashData(ms.GetBuffer().AsSpan(0, (int)ms.Length)));
        return ms.ToArray();
    }

    public static Checkpoint Decode(ReadOnlySpan<byte> bytes, string name)
    {
        if (bytes.Length < Magic.Length + 4 || !bytes.StartsWith(Magic))
            throw new DataFormatException($"{name}: not a DistributedNN checkpoint");
        uint version = BinaryPrimitives.ReadUInt32LittleEndian(bytes.Slice(Magic.Length, 4));
        if (version != Version)
            throw new DataFormatException($"{name}: checkpoint format version {version} is not supported (this build reads version {Version})");
        if (bytes.Length < Magic.Length + 8 + 32 || !SHA256.HashData(bytes[..^32]).AsSpan().SequenceEqual(bytes[^32..]))
            throw new DataFormatException($"{name}: the checkpoint is truncated or corrupt (checksum mismatch)");
        var body = bytes[(Magic.Length + 4)..^32];
        int headerLength = BinaryPrimitives.ReadInt32LittleEndian(body);
        if (headerLength < 0 || headerLength > body.Length - 4) throw new DataFormatException($"{name}: invalid checkpoint header length {headerLength}");
        Header header;
        try { header = JsonSerializer.Deserialize<Header>(body.Slice(4, headerLength), Json) ?? throw new JsonException("empty header"); }
        catch (JsonException e) { throw new DataFormatException($"{name}: invalid checkpoint header ({e.Message.Split('\n')[0]})"); }
        body = body[(4 + headerLength)..];
        var blocks = new float[3][];
        for (int b = 0; b < 3; b++)
        {
            if (body.Length < 4) throw new DataFormatException($"{name}: checkpoint ends inside its data blocks");
            int count = BinaryPrimitives.ReadInt32LittleEndian(body);
            if (count < 0 || (long)count * 4 > body.Length - 4) throw new DataFormatException($"{name}: invalid checkpoint block length {count}");
            blocks[b] = MemoryMarshal.Cast<byte, float>(body.Slice(4, count * 4)).ToArray();
            body = body[(4 + count * 4)..];
        }
        if (!body.IsEmpty) throw new DataFormatException($"{name}: {body.Length} unexpected bytes after the checkpoint's data");
        return new Checkpoint(header.Network, header.Settings, header.DataFingerprint, header.Progress, blocks[0], blocks[1], blocks[2], header.Epochs);
    }

    public static Checkpoint Load(string path)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new DataFormatException($"{path}: cannot read the checkpoint ({e.Message})"); }
        return Decode(bytes, path);
    }

    /// <summary>The state of <paramref name="state"/> as a checkpoint.</summary>
    public static Checkpoint Capture(TrainingState state, string dataFingerprint, IReadOnlyList<EpochResult> epochs) => new(
        state.Spec.ToDescription(), state.Settings, dataFingerprint, state.Progress,
        (float[])state.Parameters.Clone(), (float[])state.Optimizer.Velocity.Clone(), (float[])state.Optimizer.SecondMoment.Clone(), epochs.ToArray());

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
        try { state.Restore(c.Progress); }
        catch (ArgumentException e) { throw new DataFormatException($"the checkpoint does not fit: {e.Message}"); }
        return state;
    }
}
