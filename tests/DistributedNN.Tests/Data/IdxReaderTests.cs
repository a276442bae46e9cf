using DistributedNN.Data;

namespace DistributedNN.Tests.Data;

public sealed class IdxReaderTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Images_round_trip_as_bytes_divided_by_255()
    {
        byte[] pixels = [0, 255, 128, 1, 64, 200, 7, 254, 3, 99, 100, 101];
        var path = _dir.Write("images", Idx.Images(2, 2, 3, pixels));

        var (values, count, rows, cols) = IdxReader.ReadImages(path);

        Assert.Equal((2, 2, 3), (count, rows, cols));
        Assert.Equal(pixels.Select(p => p / 255f).ToArray(), values);
        Assert.Equal(0f, values[0]);
        Assert.Equal(1.0f, values[1]);
        Assert.Equal(128 / 255f, values[2]);
    }

    [Fact]
    public void Labels_round_trip_exactly()
    {
        var path = _dir.Write("labels", Idx.Labels(3, 0, 9, 255));

        Assert.Equal([3, 0, 9, 255], IdxReader.ReadLabels(path));
    }

    [Fact]
    public void Gzip_and_raw_files_give_the_same_values()
    {
        var file = Idx.Images(5, 4, 3, Idx.CountingPixels(60));
        var raw = _dir.Write("raw", file);
        var gzipped = _dir.Write("compressed", Idx.Gzip(file));

        var fromRaw = IdxReader.ReadImages(raw);
        var fromGzip = IdxReader.ReadImages(gzipped);

        Assert.Equal(fromRaw.Pixels, fromGzip.Pixels);
        Assert.Equal((fromRaw.Count, fromRaw.Rows, fromRaw.Cols), (fromGzip.Count, fromGzip.Rows, fromGzip.Cols));
    }

    [Fact]
    public void Gzip_is_detected_by_magic_bytes_not_by_file_name()
    {
        var raw = _dir.Write("labels.gz", Idx.Labels(1, 2));
        var gzipped = _dir.Write("labels.raw", Idx.Gzip(Idx.Labels(1, 2)));

        Assert.Equal([1, 2], IdxReader.ReadLabels(raw));
        Assert.Equal([1, 2], IdxReader.ReadLabels(gzipped));
    }

    [Fact]
    public void Wrong_magic_names_the_file_and_both_magic_numbers()
    {
        var path = _dir.Write("train-images-idx3-ubyte", [0x12, 0x34, 0x56, 0x78, 0, 0, 0, 0]);

        var error = Assert.Throws<DataFormatException>(() => IdxReader.ReadImages(path));

        Assert.Equal($"{path}: not an IDX file (magic 0x12345678; expected 0x00000803 for images)", error.Message);
    }

    [Fact]
    public void Unsupported_element_type_is_rejected_with_its_name()
    {
        var path = _dir.Write("floats", Idx.File(0x0D, [1, 1, 1], [0, 0, 0, 0]));

        var error = Assert.Throws<DataFormatException>(() => IdxReader.ReadImages(path));

        Assert.Equal($"{path}: unsupported IDX element type 0x0D (32-bit float); only 0x08 (unsigned byte) is supported", error.Message);
    }

    [Fact]
    public void A_labels_file_read_as_images_says_it_looks_like_labels()
    {
        var path = _dir.Write("labels", Idx.Labels(1, 2, 3));

        var error = Assert.Throws<DataFormatException>(() => IdxReader.ReadImages(path));

        Assert.Equal($"{path}: IDX file has 1 dimension(s) (magic 0x00000801) but images need 3 (0x00000803); is this a labels file?", error.Message);
    }

    [Fact]
    public void A_file_shorter_than_the_magic_number_is_a_truncated_header()
    {
        var path = _dir.Write("short", [0, 0]);

        var error = Assert.Throws<DataFormatException>(() => IdxReader.ReadLabels(path));

        Assert.Equal($"{path}: truncated header: the file holds 2 byte(s) but an IDX header needs at least 4", error.Message);
    }

    [Fact]
    public void Missing_dimension_sizes_are_a_truncated_header()
    {
        var path = _dir.Write("short", Idx.Images(10, 28, 28, [])[..10]);

        var error = Assert.Throws<DataFormatException>(() => IdxReader.ReadImages(path));

        Assert.Equal($"{path}: truncated header: 3 dimensions need 16 header bytes but the file holds 10", error.Message);
    }

    [Fact]
    public void An_empty_file_is_reported_as_empty()
    {
        var path = _dir.Write("empty", []);

        var error = Assert.Throws<DataFormatException>(() => IdxReader.ReadImages(path));

        Assert.Equal($"{path}: empty file (expected an IDX header)", error.Message);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Truncated_pixel_data_reports_expected_and_actual_sizes(bool gzip)
    {
        var file = Idx.Images(3, 28, 28, new byte[1234]);
        var path = _dir.Write("train-images-idx3-ubyte", gzip ? Idx.Gzip(file) : file);

        var error = Assert.Throws<DataFormatException>(() => IdxReader.ReadImages(path));

        Assert.Equal($"{path}: truncated: header says 3 images of 28×28 (2352 bytes) but the file holds 1234 bytes of data", error.Message);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_header_claiming_far_more_than_the_file_holds_fails_without_loading(bool gzip)
    {
        var file = Idx.Images(1 << 19, 32, 64, new byte[100]); // 1 GiB of pixels claimed
        var path = _dir.Write("images", gzip ? Idx.Gzip(file) : file);

        var error = Assert.Throws<DataFormatException>(() => IdxReader.ReadImages(path));

        Assert.Equal($"{path}: truncated: header says 524288 images of 32×64 (1073741824 bytes) but the file holds 100 bytes of data", error.Message);
    }

    [Fact]
    public void Truncated_label_data_reports_expected_and_actual_sizes()
    {
        var path = _dir.Write("labels", Idx.File(0x08, [60000], new byte[100]));

        var error = Assert.Throws<DataFormatException>(() => IdxReader.ReadLabels(path));

        Assert.Equal($"{path}: truncated: header says 60000 labels (60000 bytes) but the file holds 100 bytes of data", error.Message);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Trailing_data_after_the_declared_size_is_rejected(bool gzip)
    {
        var file = Idx.File(0x08, [2], [1, 2, 3, 4, 5]);
        var path = _dir.Write("labels", gzip ? Idx.Gzip(file) : file);

        var error = Assert.Throws<DataFormatException>(() => IdxReader.ReadLabels(path));

        Assert.Equal($"{path}: trailing data: header says 2 labels (2 bytes) but the file holds 5 bytes of data", error.Message);
    }

    [Fact]
    public void A_gzip_magic_followed_by_garbage_is_a_corrupt_gzip_stream()
    {
        var path = _dir.Write("images.gz", [0x1F, 0x8B, 0x08, 0x00, 0xDE, 0xAD, 0xBE, 0xEF, 0x00, 0x03, 0xFF, 0xFF, 0xFF, 0xFF, 0x12, 0x34]);

        var error = Assert.Throws<DataFormatException>(() => IdxReader.ReadImages(path));

        Assert.StartsWith($"{path}: corrupt gzip stream (", error.Message);
        Assert.DoesNotContain('\n', error.Message);
    }

    [Fact]
    public void A_wrong_checksum_is_a_corrupt_gzip_stream()
    {
        var gzipped = Idx.Gzip(Idx.Images(20, 10, 10, Idx.CountingPixels(2000)));
        gzipped[^8] ^= 0xFF; // the CRC-32 in the gzip trailer: the data decodes but fails the check
        var path = _dir.Write("images.gz", gzipped);

        var error = Assert.Throws<DataFormatException>(() => IdxReader.ReadImages(path));

        Assert.StartsWith($"{path}: corrupt gzip stream (", error.Message);
    }

    [Fact]
    public void A_missing_file_is_reported_by_name()
    {
        var path = _dir.File("no-such-file");

        var error = Assert.Throws<DataFormatException>(() => IdxReader.ReadLabels(path));

        Assert.Equal($"{path}: file not found", error.Message);
    }

    [Fact]
    public void Negative_dimension_is_an_invalid_header()
    {
        var path = _dir.Write("labels", Idx.File(0x08, [-5], []));

        var error = Assert.Throws<DataFormatException>(() => IdxReader.ReadLabels(path));

        Assert.Equal($"{path}: invalid header: dimension 1 is -5", error.Message);
    }

    [Fact]
    public void A_pair_becomes_a_data_set_with_one_class_per_label_up_to_the_largest()
    {
        var images = _dir.Write("images", Idx.Images(3, 2, 2, Idx.CountingPixels(12)));
        var labels = _dir.Write("labels", Idx.Labels(4, 0, 2));

        var data = IdxReader.LoadPair(images, labels, "tiny");

        Assert.Equal("tiny", data.Name);
        Assert.Equal(3, data.Count);
        Assert.Equal(4, data.FeatureCount);
        Assert.Equal(5, data.ClassCount);
        Assert.Equal([4, 0, 2], data.Labels);
        Assert.Equal(Idx.CountingPixels(12)[4..8].Select(p => p / 255f).ToArray(), data.Sample(1).ToArray());
    }

    [Fact]
    public void A_pair_with_different_counts_names_both_files_and_counts()
    {
        var images = _dir.Write("images", Idx.Images(3, 2, 2, new byte[12]));
        var labels = _dir.Write("labels", Idx.Labels(1, 2));

        var error = Assert.Throws<DataFormatException>(() => IdxReader.LoadPair(images, labels, "x"));

        Assert.Equal($"images file {images} holds 3 images but labels file {labels} holds 2 labels", error.Message);
    }
}
