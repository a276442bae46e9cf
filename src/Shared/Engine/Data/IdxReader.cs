using System.Buffers.Binary;
using System.IO.Compression;

namespace DistributedNN.Data;

/// <summary>
/// Reads the IDX files that MNIST and Fashion-MNIST ship as, raw or gzip-compressed. Compression
/// is recognised by the gzip magic bytes (1F 8B), not by the file name, so a renamed or
/// decompressed-in-place file still loads. Only the unsigned-byte element type (0x08) is
/// supported, which is the only one those data sets use.
/// </summary>
/// <remarks>
/// Every problem with a file is reported as a <see cref="DataFormatException"/> whose message is
/// one line of the form <c>"PATH: problem"</c>. A file whose size does not match its header —
/// too short or too long — is rejected: trailing bytes almost always mean the header's
/// dimensions are wrong, and silently ignoring them would hide that.
/// </remarks>
public static class IdxReader
{
    private const byte UnsignedByteType = 0x08;
    private const int StreamBufferSize = 1 << 16;

    // Deflate cannot compress by more than about 1032:1, which bounds what a gzip file can hold.
    private const long MaxDeflateRatio = 1032;

    // Division rather than multiplication by 1/255 so that the values are exactly byte/255f,
    // which is what the PyTorch reference (ToTensor) produces.
    private static readonly float[] PixelValues = BuildPixelValues();

    /// <summary>Reads an images file (3 dimensions: count, rows, cols) and scales each pixel to [0, 1].</summary>
    /// <returns>The pixels image-major, row-major within an image, as <c>byte / 255f</c>.</returns>
    public static (float[] Pixels, int Count, int Rows, int Cols) ReadImages(string path)
    {
        // Scaled chunk by chunk as it is read, so the 47 MB of raw Fashion-MNIST pixels never sit in memory next to their floats.
        float[] pixels = [];
        var dims = ReadFile(path, IdxKind.Images,
            size => pixels = new float[size],
            (chunk, offset) => ScalePixels(chunk, pixels.AsSpan((int)offset, chunk.Length)));
        return (pixels, dims[0], dims[1], dims[2]);
    }

    /// <summary>Reads an images file (3 dimensions: count, rows, cols) as its bytes, image-major.</summary>
    public static (byte[] Pixels, int Count, int Rows, int Cols) ReadImageBytes(string path)
    {
        byte[] pixels = [];
        var dims = ReadFile(path, IdxKind.Images,
            size => pixels = GC.AllocateUninitializedArray<byte>((int)size),
            (chunk, offset) => chunk.CopyTo(pixels.AsSpan((int)offset)));
        return (pixels, dims[0], dims[1], dims[2]);
    }

    /// <summary>
    /// Streams an images file's pixels, any size (none of it held at once): <paramref name="onShape"/> gets (count, rows,
    /// cols) once the header is read, then <paramref name="onChunk"/> the bytes in order.
    /// </summary>
    internal static void StreamImages(string path, Action<int, int, int> onShape, Action<ReadOnlySpan<byte>> onChunk) =>
        ReadFile(path, IdxKind.Images, _ => { }, (chunk, _) => onChunk(chunk), inMemory: false, onDims: d => onShape(d[0], d[1], d[2]));

    /// <summary>Reads a labels file (1 dimension: count).</summary>
    public static byte[] ReadLabels(string path)
    {
        byte[] labels = [];
        ReadFile(path, IdxKind.Labels,
            size => labels = new byte[size],
            (chunk, offset) => chunk.CopyTo(labels.AsSpan((int)offset)));
        return labels;
    }

    /// <summary>
    /// Loads an images file and its labels file as one data set. <see cref="Dataset.ClassCount"/>
    /// is the largest label + 1; callers that load a train and a test set should reconcile the
    /// two class counts (as <see cref="DataSource"/> does), since a small subset may lack the
    /// highest class.
    /// </summary>
    public static Dataset LoadPair(string imagesPath, string labelsPath, string name)
    {
        // Labels first: the file is tiny, so a mismatched pair fails before decoding 47 MB of pixels.
        var labels = ReadLabels(labelsPath);
        var (pixels, count, rows, cols) = ReadImageBytes(imagesPath);
        if (count != labels.Length)
            throw new DataFormatException($"images file {imagesPath} holds {count} images but labels file {labelsPath} holds {labels.Length} labels");
        if (count == 0)
            throw new DataFormatException($"images file {imagesPath} holds no images");

        var (intLabels, classes) = Labels(labels);
        return new Dataset(name, SampleRows.Of(pixels, rows * cols), intLabels, classes);
    }

    /// <summary>The labels as ints, and the class count they imply (the largest + 1).</summary>
    internal static (int[] Labels, int Classes) Labels(byte[] labels)
    {
        var intLabels = new int[labels.Length];
        int maxLabel = 0;
        for (int i = 0; i < labels.Length; i++)
        {
            intLabels[i] = labels[i];
            maxLabel = System.Math.Max(maxLabel, labels[i]);
        }
        return (intLabels, maxLabel + 1);
    }

    /// <summary>True if the file starts like an IDX file or a gzip stream (used to give a better error than "not a number" when such a file is passed as CSV).</summary>
    internal static bool LooksLikeIdxOrGzip(string path, out bool gzip)
    {
        Span<byte> head = stackalloc byte[3];
        int got;
        using (var file = File.OpenRead(path))
            got = file.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        gzip = got >= 2 && IsGzipMagic(head);
        return gzip || (got == 3 && head[0] == 0 && head[1] == 0 && head[2] == UnsignedByteType);
    }

    private enum IdxKind { Images, Labels }

    private static int DimensionCount(IdxKind kind) => kind == IdxKind.Images ? 3 : 1;

    private static string KindName(IdxKind kind) => kind == IdxKind.Images ? "images" : "labels";

    private static uint ExpectedMagic(IdxKind kind) => (uint)(UnsignedByteType << 8 | DimensionCount(kind));

    /// <summary>Receives the data block in order: <paramref name="offset"/> is the position of the chunk's first byte in the block.</summary>
    private delegate void ChunkHandler(ReadOnlySpan<byte> chunk, long offset);

    /// <param name="inMemory">whether the caller holds the data in one array (and so cannot take more than <see cref="Array.MaxLength"/> bytes)</param>
    private static int[] ReadFile(string path, IdxKind kind, Action<long> allocate, ChunkHandler handle, bool inMemory = true, Action<int[]>? onDims = null)
    {
        using var stream = Open(path, out long fileLength, out bool gzip);
        try
        {
            var dims = ReadHeader(stream, path, kind);
            onDims?.Invoke(dims);
            ReadBody(stream, path, kind, dims, MaxDataBytes(fileLength, gzip, dims.Length), inMemory, allocate, handle);
            return dims;
        }
        catch (InvalidDataException ex)
        {
            throw Error(path, $"corrupt gzip stream ({OneLine(ex.Message)})", ex);
        }
        catch (IOException ex)
        {
            throw Error(path, $"read error ({OneLine(ex.Message)})", ex);
        }
    }

    private static Stream Open(string path, out long fileLength, out bool gzip)
    {
        if (Directory.Exists(path))
            throw Error(path, "is a directory, not an IDX file");
        var file = OpenFile(path);
        try
        {
            fileLength = file.Length;
            gzip = StartsWithGzipMagic(file);
            return gzip ? new GZipStream(file, CompressionMode.Decompress, leaveOpen: false) : file;
        }
        catch (IOException ex)
        {
            file.Dispose();
            throw Error(path, $"read error ({OneLine(ex.Message)})", ex);
        }
    }

    private static FileStream OpenFile(string path)
    {
        try
        {
            return new FileStream(path, new FileStreamOptions
            {
                Mode = FileMode.Open,
                Access = FileAccess.Read,
                Share = FileShare.Read,
                BufferSize = StreamBufferSize,
                Options = FileOptions.SequentialScan,
            });
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw Error(path, "file not found", ex);
        }
        catch (UnauthorizedAccessException ex)
        {
            throw Error(path, "permission denied", ex);
        }
        catch (IOException ex)
        {
            throw Error(path, $"cannot open ({OneLine(ex.Message)})", ex);
        }
    }

    private static bool StartsWithGzipMagic(FileStream file)
    {
        Span<byte> head = stackalloc byte[2];
        int got = file.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        file.Position = 0;
        return got == 2 && IsGzipMagic(head);
    }

    private static bool IsGzipMagic(ReadOnlySpan<byte> head) => head[0] == 0x1F && head[1] == 0x8B;

    private static int[] ReadHeader(Stream stream, string path, IdxKind kind)
    {
        Span<byte> magic = stackalloc byte[4];
        int got = stream.ReadAtLeast(magic, magic.Length, throwOnEndOfStream: false);
        if (got == 0)
            throw Error(path, "empty file (expected an IDX header)");
        if (got < magic.Length)
            throw Error(path, $"truncated header: the file holds {got} byte(s) but an IDX header needs at least 4");
        CheckMagic(magic, path, kind);

        int dimensionCount = magic[3];
        var raw = new byte[4 * dimensionCount];
        got = stream.ReadAtLeast(raw, raw.Length, throwOnEndOfStream: false);
        if (got < raw.Length)
            throw Error(path, $"truncated header: {dimensionCount} dimensions need {4 + raw.Length} header bytes but the file holds {4 + got}");

        var dims = new int[dimensionCount];
        for (int i = 0; i < dims.Length; i++)
        {
            dims[i] = BinaryPrimitives.ReadInt32BigEndian(raw.AsSpan(4 * i, 4));
            if (dims[i] < 0)
                throw Error(path, $"invalid header: dimension {i + 1} is {dims[i]}");
        }
        if (kind == IdxKind.Images && (dims[1] == 0 || dims[2] == 0))
            throw Error(path, $"invalid header: images of {dims[1]}×{dims[2]} pixels");
        return dims;
    }

    private static void CheckMagic(ReadOnlySpan<byte> magic, string path, IdxKind kind)
    {
        uint value = BinaryPrimitives.ReadUInt32BigEndian(magic);
        uint expected = ExpectedMagic(kind);
        if (magic[0] != 0 || magic[1] != 0)
            throw Error(path, $"not an IDX file (magic 0x{value:X8}; expected 0x{expected:X8} for {KindName(kind)})");
        if (magic[2] != UnsignedByteType)
            throw Error(path, $"unsupported IDX element type 0x{magic[2]:X2} ({ElementTypeName(magic[2])}); only 0x08 (unsigned byte) is supported");
        if (magic[3] != DimensionCount(kind))
            throw Error(path, $"IDX file has {magic[3]} dimension(s) (magic 0x{value:X8}) but {KindName(kind)} need {DimensionCount(kind)} (0x{expected:X8}){SwappedHint(magic[3], kind)}");
    }

    private static string SwappedHint(int dimensionCount, IdxKind kind) => (kind, dimensionCount) switch
    {
        (IdxKind.Images, 1) => "; is this a labels file?",
        (IdxKind.Labels, 3) => "; is this an images file?",
        _ => "",
    };

    private static string ElementTypeName(byte type) => type switch
    {
        0x09 => "signed byte",
        0x0B => "16-bit integer",
        0x0C => "32-bit integer",
        0x0D => "32-bit float",
        0x0E => "64-bit float",
        _ => "unknown type",
    };

    /// <summary>An upper bound on the data bytes the file can hold, to spot a lying header before allocating for it.</summary>
    private static long MaxDataBytes(long fileLength, bool gzip, int dimensionCount)
    {
        long headerBytes = 4 + 4L * dimensionCount;
        return gzip ? fileLength * MaxDeflateRatio : System.Math.Max(0, fileLength - headerBytes);
    }

    private static void ReadBody(Stream stream, string path, IdxKind kind, int[] dims, long maxDataBytes, bool inMemory, Action<long> allocate, ChunkHandler handle)
    {
        long expected = 1;
        foreach (int d in dims)
            expected *= d; // at most 3 factors below 2^31, so this cannot overflow a long
        string described = Describe(kind, dims, expected);
        if (inMemory && expected > Array.MaxLength)
            throw Error(path, $"{described} is more than one process can hold in memory; leave the data cache on (DNN_DATA_CACHE) to map it from disk");
        if (expected > maxDataBytes)
            throw Truncated(path, described, CountRemainingBytes(stream));

        allocate(expected);
        var buffer = new byte[(int)System.Math.Min(StreamBufferSize, System.Math.Max(expected, 1))];
        long total = 0;
        while (total < expected)
        {
            int want = (int)System.Math.Min(buffer.Length, expected - total);
            int got = stream.ReadAtLeast(buffer.AsSpan(0, want), want, throwOnEndOfStream: false);
            handle(buffer.AsSpan(0, got), total);
            total += got;
            if (got < want)
                throw Truncated(path, described, total);
        }
        long extra = CountRemainingBytes(stream);
        if (extra > 0)
            throw Error(path, $"trailing data: header says {described} but the file holds {expected + extra} bytes of data");
    }

    private static DataFormatException Truncated(string path, string described, long held) =>
        Error(path, $"truncated: header says {described} but the file holds {held} bytes of data");

    private static string Describe(IdxKind kind, int[] dims, long bytes) => kind == IdxKind.Images
        ? $"{dims[0]} images of {dims[1]}×{dims[2]} ({bytes} bytes)"
        : $"{dims[0]} labels ({bytes} bytes)";

    private static long CountRemainingBytes(Stream stream)
    {
        if (stream.CanSeek)
            return stream.Length - stream.Position;
        var scratch = new byte[StreamBufferSize];
        long total = 0;
        int got;
        while ((got = stream.Read(scratch)) > 0)
            total += got;
        return total;
    }

    private static void ScalePixels(ReadOnlySpan<byte> data, Span<float> pixels)
    {
        var values = PixelValues;
        for (int i = 0; i < data.Length; i++)
            pixels[i] = values[data[i]];
    }

    private static float[] BuildPixelValues()
    {
        var values = new float[256];
        for (int i = 0; i < values.Length; i++)
            values[i] = i / 255f;
        return values;
    }

    private static DataFormatException Error(string path, string problem, Exception? inner = null) =>
        new($"{path}: {problem}", inner);

    // Library messages sometimes end with a full stop or span lines; ours must stay one line.
    private static string OneLine(string message) =>
        message.ReplaceLineEndings(" ").Trim().TrimEnd('.');
}
