using System.Buffers.Binary;
using System.IO.Compression;

namespace DistributedNN.Tests.Data;

/// <summary>A fresh directory per test, so tests can run in parallel and leave nothing behind.</summary>
internal sealed class TempDirectory : IDisposable
{
    public TempDirectory()
    {
        Path = Directory.CreateTempSubdirectory("dnn-data-tests-").FullName;
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public string Write(string name, byte[] content)
    {
        var path = File(name);
        System.IO.File.WriteAllBytes(path, content);
        return path;
    }

    public string WriteText(string name, string content)
    {
        var path = File(name);
        System.IO.File.WriteAllText(path, content);
        return path;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a leftover temp directory must not turn a passing test into a failure.
        }
    }
}

/// <summary>Builds IDX files byte by byte, so tests control every header field.</summary>
internal static class Idx
{
    public static byte[] File(byte type, int[] dims, byte[] data)
    {
        var bytes = new byte[4 + 4 * dims.Length + data.Length];
        bytes[2] = type;
        bytes[3] = (byte)dims.Length;
        for (int i = 0; i < dims.Length; i++)
            BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4 + 4 * i), dims[i]);
        data.CopyTo(bytes, 4 + 4 * dims.Length);
        return bytes;
    }

    public static byte[] Images(int count, int rows, int cols, byte[] pixels) => File(0x08, [count, rows, cols], pixels);

    public static byte[] Labels(params byte[] labels) => File(0x08, [labels.Length], labels);

    public static byte[] Gzip(byte[] content)
    {
        using var buffer = new MemoryStream();
        using (var gzip = new GZipStream(buffer, CompressionLevel.Optimal))
            gzip.Write(content);
        return buffer.ToArray();
    }

    /// <summary>Pixels 0, 1, 2, … (mod 256), so every position is distinguishable.</summary>
    public static byte[] CountingPixels(int length)
    {
        var pixels = new byte[length];
        for (int i = 0; i < length; i++)
            pixels[i] = (byte)(i * 7 % 256);
        return pixels;
    }
}
