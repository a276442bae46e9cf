using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;
using System.Security.Cryptography;
using System.Text.Json;

namespace DistributedNN.Data;

/// <summary>
/// A data set's cache file: both sets' labels and samples in their stored type (pixel bytes, or floats), written once
/// and memory-mapped by every process that trains on them, so that the processes of one host share one copy in the page
/// cache and a data set need not fit in memory.
/// </summary>
/// <remarks>
/// Layout: the magic <c>DNNDATA1</c>, the header's offset and length (two little-endian int64), then four sections each
/// on a 4,096-byte boundary — training labels (int32 LE), training rows, test labels, test rows — then the header, UTF-8
/// JSON: the key it was built for (source files, their sizes and times, the loading options), the data fingerprint, the
/// input transform, and each set's name, count, width, class count, element type and section offsets.
/// </remarks>
public static class DataCacheFile
{
    public const int Version = 1;
    private const string Magic = "DNNDATA1";
    private const int Alignment = 4096;
    private const int Preamble = 24;

    private sealed record SetHeader(string Name, int Count, int Width, int Classes, SampleElement Element, long Labels, long Rows);

    private sealed record Header(int Version, string Key, string Source, string Fingerprint, string Input, SetHeader Train, SetHeader Test);

    /// <summary>Writes <paramref name="data"/> (already loaded) to <paramref name="path"/>.</summary>
    public static void Write(string path, string key, TrainTestData data, string fingerprint)
    {
        using var w = new Writer(path);
        var train = w.Set(data.Train.Name, data.Train.Labels, data.Train.ClassCount, data.Train.FeatureCount, data.Train.Rows.Element, data.Train.Rows.WriteTo);
        var test = w.Set(data.Test.Name, data.Test.Labels, data.Test.ClassCount, data.Test.FeatureCount, data.Test.Rows.Element, data.Test.Rows.WriteTo);
        w.Finish(new Header(Version, key, data.Source, fingerprint, data.Transform.ToJson(), train, test));
    }

    /// <summary>
    /// Writes an MNIST-style IDX directory's four files (<paramref name="files"/>: train images, train labels, test
    /// images, test labels) streaming, the images never held in memory, the fingerprint computed on the way.
    /// </summary>
    internal static void WriteIdx(string path, string key, string[] files, string directory)
    {
        var trainLabels = IdxReader.ReadLabels(files[1]);
        var testLabels = IdxReader.ReadLabels(files[3]);
        var (trainInts, trainClasses) = IdxReader.Labels(trainLabels);
        var (testInts, testClasses) = IdxReader.Labels(testLabels);
        int classes = System.Math.Max(trainClasses, testClasses);
        string name = Path.GetFileName(Path.TrimEndingDirectorySeparator(directory));
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using var w = new Writer(path);
        int width = 0;
        SetHeader Images(string images, string labels, int[] ints, string set)
        {
            var header = w.Set($"{name} {set}", ints, classes, 0, SampleElement.Byte, stream => width = StreamPixels(images, labels, ints, classes, sha, stream));
            sha.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(ints.AsSpan()));
            return header with { Width = width };
        }
        var train = Images(files[0], files[1], trainInts, "train");
        int trainWidth = width;
        var test = Images(files[2], files[3], testInts, "test");
        if (trainWidth != width)
            throw new DataFormatException($"training images in {files[0]} have {trainWidth} pixels but test images in {files[2]} have {width}");
        w.Finish(new Header(Version, key, directory, Convert.ToHexStringLower(sha.GetHashAndReset()), InputTransform.Pixels.ToJson(), train, test));
    }

    // One images file into the cache and the fingerprint (shape, the pixels as the floats a reader sees; the caller adds the labels).
    private static int StreamPixels(string images, string labels, int[] ints, int classes, IncrementalHash sha, Stream into)
    {
        int width = 0;
        var floats = new float[1 << 16];
        IdxReader.StreamImages(images, (count, rows, cols) =>
        {
            if (count != ints.Length)
                throw new DataFormatException($"images file {images} holds {count} images but labels file {labels} holds {ints.Length} labels");
            if (count == 0) throw new DataFormatException($"images file {images} holds no images");
            width = rows * cols;
            Span<int> shape = [count, width, classes];
            sha.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(shape));
        }, chunk =>
        {
            into.Write(chunk);
            SampleRows.Scale(chunk, floats.AsSpan(0, chunk.Length));
            sha.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(floats.AsSpan(0, chunk.Length)));
        });
        return width;
    }

    /// <summary>
    /// The data in <paramref name="path"/>, mapped, and its fingerprint; null when there is no such file or it was built
    /// for another key or version. A file that is damaged (cut short, a header that does not parse) is null as well: the
    /// caller builds it again.
    /// </summary>
    public static (TrainTestData Data, string Fingerprint)? Open(string path, string key)
    {
        if (!File.Exists(path)) return null;
        Mapping mapping;
        try { mapping = new Mapping(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException) { return null; }
        try
        {
            var header = mapping.ReadHeader();
            if (header is null || header.Version != Version || header.Key != key) return null;
            var train = mapping.Set(header.Train);
            var test = mapping.Set(header.Test);
            var input = InputTransform.Parse(header.Input, path);
            return (new TrainTestData(train, test, header.Source, input), header.Fingerprint);
        }
        catch (Exception e) when (e is JsonException or DataFormatException or ArgumentException or InvalidOperationException or NotSupportedException)
        {
            return null;
        }
    }

    private sealed class Writer(string path) : IDisposable
    {
        private readonly FileStream _file = new(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);

        public SetHeader Set(string name, int[] labels, int classes, int width, SampleElement element, Action<Stream> rows)
        {
            long labelsAt = Align();
            _file.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(labels.AsSpan()));
            long rowsAt = Align();
            rows(_file);
            return new SetHeader(name, labels.Length, width, classes, element, labelsAt, rowsAt);
        }

        public void Finish(Header header)
        {
            long at = _file.Position;
            var json = JsonSerializer.SerializeToUtf8Bytes(header);
            _file.Write(json);
            _file.Position = 0;
            Span<byte> preamble = stackalloc byte[Preamble];
            System.Text.Encoding.ASCII.GetBytes(Magic, preamble);
            BinaryPrimitives.WriteInt64LittleEndian(preamble[8..], at);
            BinaryPrimitives.WriteInt64LittleEndian(preamble[16..], json.Length);
            _file.Write(preamble);
            _file.Flush(flushToDisk: true);
        }

        private long Align()
        {
            long at = System.Math.Max(Preamble, _file.Position);
            at = (at + Alignment - 1) / Alignment * Alignment;
            _file.SetLength(System.Math.Max(_file.Length, at));
            _file.Position = at;
            return at;
        }

        public void Dispose() => _file.Dispose();
    }

    /// <summary>A cache file mapped read-only for the life of the rows that point into it (released by the finalizer).</summary>
    private sealed unsafe class Mapping
    {
        private readonly MemoryMappedFile? _file;
        private readonly MemoryMappedViewAccessor? _view;
        private readonly byte* _start;
        private readonly long _length;

        public Mapping(string path)
        {
            _length = new FileInfo(path).Length;
            if (_length < Preamble) throw new IOException("too short");
            _file = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
            _view = _file.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            byte* start = null;
            _view.SafeMemoryMappedViewHandle.AcquirePointer(ref start);
            _start = start + _view.PointerOffset;
        }

        // (a constructor that threw leaves nothing acquired)
        ~Mapping()
        {
            if (_start != null) _view?.SafeMemoryMappedViewHandle.ReleasePointer();
            GC.KeepAlive(_file);
        }

        public Header? ReadHeader()
        {
            var preamble = new ReadOnlySpan<byte>(_start, Preamble);
            if (System.Text.Encoding.ASCII.GetString(preamble[..8]) != Magic) return null;
            long at = BinaryPrimitives.ReadInt64LittleEndian(preamble[8..]), length = BinaryPrimitives.ReadInt64LittleEndian(preamble[16..]);
            if (at < Preamble || length <= 0 || length > int.MaxValue || at + length != _length) return null;
            return JsonSerializer.Deserialize<Header>(new ReadOnlySpan<byte>(_start + at, (int)length));
        }

        public Dataset Set(SetHeader s)
        {
            int size = s.Element == SampleElement.Float32 ? 4 : 1;
            bool fits = s.Count > 0 && s.Width > 0 && s.Classes > 0 && s.Labels >= Preamble && s.Labels + 4L * s.Count <= s.Rows
                && s.Rows + (long)s.Count * s.Width * size <= _length;
            if (!fits) throw new DataFormatException($"{s.Name}: the cache's sections do not fit the file");
            var labels = new ReadOnlySpan<int>(_start + s.Labels, s.Count).ToArray();
            foreach (int label in labels)
                if ((uint)label >= (uint)s.Classes) throw new DataFormatException($"{s.Name}: label {label} outside 0..{s.Classes - 1}");
            return new Dataset(s.Name, new MappedRows(_start + s.Rows, s.Count, s.Width, s.Element, this), labels, s.Classes);
        }
    }
}
