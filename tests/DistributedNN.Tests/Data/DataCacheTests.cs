using DistributedNN.Data;
using DistributedNN.Training;

namespace DistributedNN.Tests.Data;

/// <summary>
/// The data cache: a cache file holds the same samples, labels, transform and fingerprint as loading the source in
/// memory; it is built once and mapped after, rebuilt when the source changes or the file is damaged.
/// </summary>
public sealed class DataCacheTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Cache => _dir.File("cache");

    private static DataSourceOptions Options => new() { GetEnvironmentVariable = _ => null };

    [Fact]
    public void Bytes_read_as_the_division_by_255_on_the_vector_path_and_the_tail()
    {
        var bytes = Enumerable.Range(0, 256 * 3 + 5).Select(i => (byte)(i * 37 % 256)).ToArray();
        var floats = new float[bytes.Length];
        SampleRows.Scale(bytes, floats);
        for (int i = 0; i < bytes.Length; i++)
            Assert.Equal(BitConverter.SingleToInt32Bits(bytes[i] / 255f), BitConverter.SingleToInt32Bits(floats[i]));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void An_idx_directory_through_the_cache_is_the_data_loaded_in_memory(bool gzip)
    {
        var directory = WriteIdx("idx", gzip, trainCount: 37, side: 5);
        var location = new DataLocation(directory, DataOrigin.DataArgument);
        var memory = DataSource.LoadFrom(location, Options);

        var (cached, fingerprint) = DataCache.Cached(Cache, location, Options);

        AssertSame(memory, cached);
        Assert.Equal(ShardComputer.Fingerprint(memory.Train, memory.Test), fingerprint);
        Assert.Equal(fingerprint, ShardComputer.Fingerprint(cached.Train, cached.Test));
        Assert.Equal(SampleElement.Byte, cached.Train.Rows.Element);
        Assert.Equal(255f, cached.Transform.Scale);
        Assert.Single(Directory.GetFiles(Cache, "*" + DataCache.FileExtension));
    }

    [Fact]
    public void A_csv_file_through_the_cache_keeps_its_standardised_floats_and_statistics()
    {
        var path = _dir.File("table.csv");
        File.WriteAllLines(path, Enumerable.Range(0, 50).Select(i => $"{i * 0.37},{100 - i * i},{(i % 7) * 1e-3},{i % 3}"));
        var location = new DataLocation(path, DataOrigin.DataArgument);
        var memory = DataSource.LoadFrom(location, Options);

        var (cached, fingerprint) = DataCache.Cached(Cache, location, Options);

        AssertSame(memory, cached);
        Assert.Equal(ShardComputer.Fingerprint(memory.Train, memory.Test), fingerprint);
        Assert.Equal(SampleElement.Float32, cached.Train.Rows.Element);
        Assert.Equal(memory.Transform.Mean, cached.Transform.Mean);
        Assert.Equal(memory.Transform.StandardDeviation, cached.Transform.StandardDeviation);
        // another split is another cache file
        var other = Options with { TestFraction = 0.5 };
        var (split, _) = DataCache.Cached(Cache, location, other);
        Assert.Equal(25, split.Test.Count);
        Assert.Equal(2, Directory.GetFiles(Cache, "*" + DataCache.FileExtension).Length);
    }

    [Fact]
    public void An_image_folder_is_decoded_once_into_the_cache_and_a_new_image_caches_it_again()
    {
        string root = ImageFolderTests.Write(_dir.File("images"), 60, colour: true);
        var location = new DataLocation(root, DataOrigin.DataArgument);
        var memory = DataSource.LoadFrom(location, Options);

        var (cached, fingerprint) = DataCache.Cached(Cache, location, Options);

        AssertSame(memory, cached);
        Assert.Equal(ShardComputer.Fingerprint(memory.Train, memory.Test), fingerprint);
        Assert.Equal(memory.Transform.Classes, cached.Transform.Classes);
        Assert.Equal(SampleElement.Byte, cached.Train.Rows.Element);
        var first = Directory.GetFiles(Cache).Single();
        // another size is another cache; an image added is the same source changed: cached again, the old file gone
        var (small, _) = DataCache.Cached(Cache, location, Options with { ImageSize = "14" });
        Assert.Equal(3 * 14 * 14, small.Train.FeatureCount);
        File.Copy(Directory.GetFiles(Path.Combine(root, "train"), "*.png", SearchOption.AllDirectories)[0], Path.Combine(root, "train", ImageFolderTests.Names[0], "extra.png"));
        var (more, _) = DataCache.Cached(Cache, location, Options);
        Assert.Equal(memory.Train.Count + 1, more.Train.Count);
        Assert.False(File.Exists(first));
    }

    [Fact]
    public void The_second_load_maps_the_file_the_first_wrote()
    {
        var location = new DataLocation(WriteIdx("idx", false, trainCount: 9, side: 3), DataOrigin.DataArgument);
        DataCache.Cached(Cache, location, Options);
        var file = Directory.GetFiles(Cache).Single();
        var written = File.GetLastWriteTimeUtc(file);
        File.SetLastWriteTimeUtc(file, written.AddMinutes(-5)); // a rebuild would show as a new time

        var (again, _) = DataCache.Cached(Cache, location, Options);

        Assert.Equal(file, Directory.GetFiles(Cache).Single());
        Assert.Equal(written.AddMinutes(-5), File.GetLastWriteTimeUtc(file));
        Assert.Equal(9, again.Train.Count);
    }

    [Fact]
    public void A_changed_source_is_cached_again_and_the_old_file_removed()
    {
        var directory = WriteIdx("idx", false, trainCount: 9, side: 3);
        var location = new DataLocation(directory, DataOrigin.DataArgument);
        var (before, _) = DataCache.Cached(Cache, location, Options);
        var old = Directory.GetFiles(Cache).Single();

        WriteIdx("idx", false, trainCount: 11, side: 3);
        File.SetLastWriteTimeUtc(Path.Combine(directory, DataSource.TrainImagesFile), DateTime.UtcNow.AddMinutes(1));
        var (after, _) = DataCache.Cached(Cache, location, Options);

        Assert.Equal(9, before.Train.Count);
        Assert.Equal(11, after.Train.Count);
        Assert.NotEqual(old, Directory.GetFiles(Cache).Single());
    }

    [Theory]
    [InlineData(100)]
    [InlineData(4096 + 10)]
    [InlineData(0)]
    public void A_damaged_cache_file_is_built_again(int keep)
    {
        var location = new DataLocation(WriteIdx("idx", false, trainCount: 30, side: 20), DataOrigin.DataArgument);
        var (first, fingerprint) = DataCache.Cached(Cache, location, Options);
        var last = first.Train.Sample(29);
        var file = Directory.GetFiles(Cache).Single();
        var bytes = File.ReadAllBytes(file);
        // replaced, not cut in place: pages of a file cut under a mapping can no longer be read (the cache never writes in place)
        File.WriteAllBytes(file + ".damaged", bytes.AsSpan(0, keep).ToArray());
        File.Move(file + ".damaged", file, overwrite: true);

        var (rebuilt, again) = DataCache.Cached(Cache, location, Options);

        Assert.Equal(fingerprint, again);
        Assert.Equal(last, rebuilt.Train.Sample(29));
        Assert.Equal(bytes.Length, new FileInfo(file).Length);
    }

    [Fact]
    public void A_cache_directory_that_cannot_be_made_is_a_one_line_error_naming_the_setting()
    {
        var location = new DataLocation(WriteIdx("idx", false, trainCount: 3, side: 2), DataOrigin.DataArgument);
        var blocker = _dir.File("a-file");
        File.WriteAllText(blocker, "not a directory");

        var e = Assert.ThrowsAny<UserErrorException>(() => DataCache.Cached(Path.Combine(blocker, "cache"), location, Options));

        Assert.Contains(DataCache.EnvironmentVariable, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void A_default_cache_directory_that_cannot_be_written_falls_back_to_the_next_then_to_memory()
    {
        var directory = WriteIdx("idx", false, trainCount: 3, side: 2);
        var blocker = _dir.File("a-file");
        File.WriteAllText(blocker, "not a directory");
        string blocked = Path.Combine(blocker, "cache");

        var (next, _) = DataCache.FirstThatWorks([blocked, Cache], named: false, directory, Options);
        var (memory, _) = DataCache.FirstThatWorks([blocked], named: false, directory, Options);

        Assert.Equal(3, next.Train.Count);
        Assert.Single(Directory.GetFiles(Cache, "*" + DataCache.FileExtension));
        Assert.Equal(3, memory.Train.Count);
        Assert.ThrowsAny<UserErrorException>(() => DataCache.FirstThatWorks([blocked, Cache], named: true, directory, Options));
    }

    [Fact]
    public void The_temporary_fallback_is_a_folder_of_this_user_alone()
    {
        if (!OperatingSystem.IsLinux()) return;
        var made = DataCache.PrivateTemporary(_dir.Path);
        Assert.NotNull(made);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(made));
        Assert.Equal(made, DataCache.PrivateTemporary(_dir.Path)); // found again

        File.SetUnixFileMode(made, (UnixFileMode)0x1FF); // another user could write into it
        Assert.Null(DataCache.PrivateTemporary(_dir.Path));
        System.IO.Directory.Delete(made);
        System.IO.Directory.CreateDirectory(_dir.File("elsewhere"));
        File.CreateSymbolicLink(made, _dir.File("elsewhere")); // a link someone left to a folder of theirs
        Assert.Null(DataCache.PrivateTemporary(_dir.Path));
    }

    [Fact]
    public void Selected_rows_read_and_write_as_the_rows_they_name()
    {
        var bytes = Enumerable.Range(0, 5 * 3).Select(i => (byte)(i * 17)).ToArray();
        var all = new Dataset("all", SampleRows.Of(bytes, 3), [0, 1, 2, 0, 1], 3);
        var picked = new Dataset("picked", all.Rows.Select([4, 0, 2]), [1, 0, 2], 3);

        Assert.Equal(all.Sample(4), picked.Sample(0));
        Assert.Equal(all.Sample(2), picked.Sample(2));
        Assert.Equal(SampleElement.Byte, picked.Rows.Element);
        Assert.Equal(2, picked.Rows.Take(2).Count);

        var file = _dir.File("picked" + DataCache.FileExtension);
        DataCacheFile.Write(file, "k", new TrainTestData(picked, all, "made here", InputTransform.Pixels), "f");
        var (read, fingerprint) = DataCacheFile.Open(file, "k")!.Value;
        Assert.Equal("f", fingerprint);
        Assert.All(Enumerable.Range(0, 3), i => Assert.Equal(picked.Sample(i), read.Train.Sample(i)));
        Assert.Null(DataCacheFile.Open(file, "another key"));
    }

    [Fact]
    public void Taking_the_first_rows_of_a_mapped_set_reads_the_same_samples()
    {
        var location = new DataLocation(WriteIdx("idx", false, trainCount: 12, side: 4), DataOrigin.DataArgument);
        var (cached, _) = DataCache.Cached(Cache, location, Options);

        var first = cached.Train.Take(5);

        Assert.Equal(5, first.Count);
        Assert.All(Enumerable.Range(0, 5), i => Assert.Equal(cached.Train.Sample(i), first.Sample(i)));
        Assert.Throws<ArgumentOutOfRangeException>(() => first.CopySample(5, new float[16]));
    }

    [Fact]
    public void Fashion_mnist_through_the_cache_has_the_fingerprint_of_the_float_load()
    {
        var location = DataSource.Resolve(null);
        var memory = DataSource.LoadFrom(location);

        var (cached, fingerprint) = DataCache.Cached(Cache, location, new DataSourceOptions());

        Assert.Equal(ShardComputer.Fingerprint(memory.Train, memory.Test), fingerprint);
        var a = new float[256 * 784];
        var b = new float[256 * 784];
        memory.Train.CopyRows(59_000, 256, a);
        cached.Train.CopyRows(59_000, 256, b);
        Assert.Equal(a, b);
    }

    private static void AssertSame(TrainTestData expected, TrainTestData actual)
    {
        foreach (var (e, a) in new[] { (expected.Train, actual.Train), (expected.Test, actual.Test) })
        {
            Assert.Equal(e.Name, a.Name);
            Assert.Equal(e.Count, a.Count);
            Assert.Equal(e.FeatureCount, a.FeatureCount);
            Assert.Equal(e.ClassCount, a.ClassCount);
            Assert.Equal(e.Labels, a.Labels);
            var x = new float[e.Count * e.FeatureCount];
            var y = new float[a.Count * a.FeatureCount];
            e.CopyRows(0, e.Count, x);
            a.CopyRows(0, a.Count, y);
            Assert.Equal(x, y);
        }
        Assert.Equal(expected.Source, actual.Source);
        Assert.Equal(expected.Transform.ToJson(), actual.Transform.ToJson());
    }

    private string WriteIdx(string name, bool gzip, int trainCount, int side)
    {
        var directory = Directory.CreateDirectory(_dir.File(name)).FullName;
        var labels = Enumerable.Range(0, trainCount).Select(i => (byte)(i % 4)).ToArray();
        var files = new Dictionary<string, byte[]>
        {
            [DataSource.TrainImagesFile] = Idx.Images(trainCount, side, side, Idx.CountingPixels(trainCount * side * side)),
            [DataSource.TrainLabelsFile] = Idx.Labels(labels),
            [DataSource.TestImagesFile] = Idx.Images(3, side, side, Idx.CountingPixels(3 * side * side).Reverse().ToArray()),
            [DataSource.TestLabelsFile] = Idx.Labels(4, 0, 2),
        };
        foreach (var (file, content) in files)
            File.WriteAllBytes(Path.Combine(directory, gzip ? file + ".gz" : file), gzip ? Idx.Gzip(content) : content);
        return directory;
    }
}
