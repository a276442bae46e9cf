using System.Buffers.Binary;
using DistributedNN.Protocol;

namespace DistributedNN.Tests.Security;

/// <summary>
/// Control-plane payloads as an attacker writes them: Hyperion's known-type manifest of one of our messages (byte 254
/// and the message's index) followed by fields whose length says <see cref="BombLength"/>, or payloads that are not
/// ours at all (Hyperion's own string, byte[] and type-name manifests, the same length after them).
/// </summary>
internal static class CraftedPayloads
{
    /// <summary>The length field of the attack: ~512 Mi elements in a payload of a few dozen bytes.</summary>
    public const int BombLength = 536_870_897;

    /// <summary>Our manifest of <typeparamref name="T"/>, then <paramref name="fields"/>.</summary>
    public static byte[] Message<T>(params byte[][] fields) where T : IDnnMessage
    {
        int index = WireRecordCodec.Messages.ToList().IndexOf(typeof(T));
        return [Hyperion.ValueSerializers.ObjectSerializer.ManifestIndex, (byte)index, (byte)(index >> 8), .. fields.SelectMany(f => f)];
    }

    public static byte[] Int(int value)
    {
        var bytes = new byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(bytes, value);
        return bytes;
    }

    public static byte[] Zeros(int count) => new byte[count];

    public static byte[] String(string value) => [.. Int(System.Text.Encoding.UTF8.GetByteCount(value)), .. System.Text.Encoding.UTF8.GetBytes(value)];

    /// <summary>RegisterWorker whose worker path (its first field) is a string of <see cref="BombLength"/> bytes.</summary>
    public static byte[] RegisterWorkerWithAHugeString() => Message<RegisterWorker>(Int(BombLength), Zeros(32));

    /// <summary>StartJob whose network's layer sizes (job id, network present, then the sizes) say <see cref="BombLength"/> ints.</summary>
    public static byte[] StartJobWithAHugeArray() => Message<StartJob>(Zeros(16), [1], Int(BombLength), Zeros(32));

    /// <summary>StartJob whose network's activations are <see cref="BombLength"/> strings.</summary>
    public static byte[] StartJobWithAHugeStringArray() => Message<StartJob>(Zeros(16), [1], Int(0), Int(BombLength), Zeros(32));

    /// <summary>RegisterWorker whose access token (after worker, host, port and cores) is <see cref="BombLength"/> bytes.</summary>
    public static byte[] RegisterWorkerWithAHugeToken() => Message<RegisterWorker>(String("akka://dnn/user/w"), String("h"), Int(1), Int(1), Int(BombLength), Zeros(32));

    /// <summary>A top-level Hyperion string of <see cref="BombLength"/> bytes (its manifest 7, then 255 and the length).</summary>
    public static byte[] HyperionString() => [7, 255, .. Int(BombLength), .. Zeros(32)];

    /// <summary>A top-level Hyperion byte[] (manifest 9) of <see cref="BombLength"/> bytes.</summary>
    public static byte[] HyperionByteArray() => [9, .. Int(BombLength), .. Zeros(32)];

    /// <summary>A Hyperion type name (manifest 255) of <see cref="BombLength"/> bytes.</summary>
    public static byte[] HyperionTypeName() => [255, .. Int(BombLength), .. Zeros(32)];

    /// <summary>All of the above: ten bombs.</summary>
    public static IReadOnlyList<byte[]> TenBombs() =>
    [
        RegisterWorkerWithAHugeString(), StartJobWithAHugeArray(), StartJobWithAHugeStringArray(), RegisterWorkerWithAHugeToken(),
        HyperionString(), HyperionByteArray(), HyperionTypeName(),
        RegisterWorkerWithAHugeString(), StartJobWithAHugeArray(), HyperionByteArray(),
    ];
}
