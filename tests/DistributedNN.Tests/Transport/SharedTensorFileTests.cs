using DistributedNN.Transport;

namespace DistributedNN.Tests.Transport;

/// <summary>The shared-memory tensor file: what one mapping writes another reads, the seqlock, shape checks, cleanup.</summary>
public sealed class SharedTensorFileTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void A_second_mapping_reads_what_the_first_published_and_the_owner_deletes_the_file()
    {
        string path = _dir.File("weights");
        var values = Enumerable.Range(0, 1001).Select(i => i * 0.5f - 7).ToArray();
        using (var owner = SharedTensorFile.Create(path, 3, values.Length))
        {
            if (!OperatingSystem.IsWindows()) Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
            Assert.Equal(-1, owner.Version);
            owner.BeginWrite();
            values.CopyTo(owner.Region(2));
            owner.EndWrite(41);
            using var reader = SharedTensorFile.Open(path, 3, values.Length);
            Assert.Equal(41, reader.Version);
            Assert.Equal(values, reader.Region(2).ToArray());
            Assert.Equal(values, reader.RegionMemory(2).ToArray()); // the same bytes through Memory<float>
            // a write in progress shows as version −1, so a reader never takes half-written values for a version
            owner.BeginWrite();
            Assert.Equal(-1, reader.Version);
            owner.Region(2)[0] = 99f;
            owner.EndWrite(42);
            Assert.Equal(42, reader.Version);
            Assert.Equal(99f, reader.RegionMemory(2).Span[0]);
            // a reader may write too (a worker's gradients), and the owner sees it
            reader.Region(0)[5] = 123f;
            Assert.Equal(123f, owner.Region(0)[5]);
            Assert.Throws<ArgumentOutOfRangeException>(() => reader.Region(3));
            Assert.Throws<ArgumentOutOfRangeException>(() => reader.RegionMemory(-1));
        }
        Assert.False(File.Exists(path));
    }

    [Fact]
    public void A_missing_file_or_one_of_another_shape_is_refused()
    {
        string path = _dir.File("grads");
        Assert.Throws<FileNotFoundException>(() => SharedTensorFile.Open(path, 1, 10));
        using var owner = SharedTensorFile.Create(path, 2, 10);
        Assert.Throws<IOException>(() => SharedTensorFile.Open(path, 1, 10));  // another size
        Assert.Throws<IOException>(() => SharedTensorFile.Open(path, 4, 5));   // same size, another shape
        File.WriteAllBytes(_dir.File("junk"), new byte[64 + 2 * 10 * 4]);
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(_dir.File("junk"), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        Assert.Equal($"{_dir.File("junk")} is not a shared tensor file of 2 × 10 floats",
            Assert.Throws<IOException>(() => SharedTensorFile.Open(_dir.File("junk"), 2, 10)).Message); // no header
    }
}
