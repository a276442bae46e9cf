using System.Runtime.InteropServices;

namespace DistributedNN.Transport;

/// <summary>
/// Tensors in shared memory for workers on the coordinator's machine (<see cref="TransportKind.Shm"/>): a file in
/// /dev/shm (mode 600) mapped by both processes, holding a 64-byte header (magic, region count and size, a
/// version word) and <see cref="Regions"/> regions of <see cref="Length"/> floats. The coordinator writes the
/// weights into one such file, each worker writes its shard gradients into its own; only small notices travel
/// as messages. A writer publishes with <see cref="BeginWrite"/> / <see cref="EndWrite"/> (version −1 while
/// writing); a reader checks <see cref="Version"/> before and after it used the values (a seqlock), so values
/// read while they were being rewritten are never taken for a whole version.
/// </summary>
public sealed unsafe class SharedTensorFile : IDisposable
{
    private const int HeaderBytes = 64;
    private const long Magic = 0x31_4D_48_53_4E_4E_44; // "DNNSHM1"
    private readonly SharedMapping _mapping;
    private readonly byte* _base;
    private readonly RegionManager?[] _memories;

    private SharedTensorFile(SharedMapping mapping, int regions, int length)
    {
        _mapping = mapping;
        _base = mapping.Base;
        Regions = regions;
        Length = length;
        _memories = new RegionManager?[regions];
    }

    public string Path => _mapping.Path;
    public int Regions { get; }
    /// <summary>Floats per region.</summary>
    public int Length { get; }

    /// <summary>The folder for shared tensor files: /dev/shm where it exists (memory), else the temp folder.</summary>
    public static string Folder => Directory.Exists("/dev/shm") ? "/dev/shm" : System.IO.Path.GetTempPath();

    /// <summary>Creates the file, new (nothing at <paramref name="path"/> is reused or followed), readable and writable by this user only.</summary>
    /// <exception cref="IOException">Something is at <paramref name="path"/> already.</exception>
    public static SharedTensorFile Create(string path, int regions, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(regions);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(length);
        var shared = new SharedTensorFile(SharedMapping.Create(path, Bytes(regions, length)), regions, length);
        var h = (long*)shared._base;
        h[1] = regions;
        h[2] = length;
        h[3] = -1; // version: nothing published yet
        h[0] = Magic;
        return shared;
    }

    /// <summary>Opens a file another process created, checking that it holds what the caller expects.</summary>
    /// <exception cref="IOException">It is missing, a link, another user's or open to others, or not a shared tensor file of this shape.</exception>
    public static SharedTensorFile Open(string path, int regions, int length)
    {
        var shared = new SharedTensorFile(SharedMapping.Open(path, Bytes(regions, length)), regions, length);
        var h = (long*)shared._base;
        if (h[0] != Magic || h[1] != regions || h[2] != length)
        {
            shared.Dispose();
            throw new IOException($"{path} is not a shared tensor file of {regions} × {length} floats");
        }
        return shared;
    }

    private long* VersionWord => (long*)_base + 3;

    /// <summary>The published version (−1: none, or a write in progress).</summary>
    public long Version => Volatile.Read(ref *VersionWord);

    /// <summary>Region <paramref name="index"/>, to write into (between <see cref="BeginWrite"/> and <see cref="EndWrite"/>) or read.</summary>
    public Span<float> Region(int index)
    {
        if ((uint)index >= (uint)Regions) throw new ArgumentOutOfRangeException(nameof(index));
        return new Span<float>(_base + HeaderBytes + (long)index * Length * sizeof(float), Length);
    }

    public void BeginWrite()
    {
        Volatile.Write(ref *VersionWord, -1);
        Interlocked.MemoryBarrier();
    }

    public void EndWrite(long version)
    {
        Interlocked.MemoryBarrier();
        Volatile.Write(ref *VersionWord, version);
    }

    /// <summary>Region <paramref name="index"/> as memory (for code that keeps it across calls); valid while this file is open.</summary>
    public Memory<float> RegionMemory(int index)
    {
        Region(index); // checks the index
        return (_memories[index] ??= new RegionManager(this, index)).Memory; // made once: read for every order
    }

    private sealed class RegionManager(SharedTensorFile file, int index) : System.Buffers.MemoryManager<float>
    {
        public override Span<float> GetSpan() => file.Region(index);
        public override System.Buffers.MemoryHandle Pin(int elementIndex = 0) =>
            new(file._base + HeaderBytes + ((long)index * file.Length + elementIndex) * sizeof(float));
        public override void Unpin() { }
        protected override void Dispose(bool disposing) { }
    }

    private static long Bytes(int regions, int length) => HeaderBytes + (long)regions * length * sizeof(float);

    public void Dispose() => _mapping.Dispose();
}
