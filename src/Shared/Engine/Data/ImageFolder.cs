using System.Globalization;
using StbImageSharp;

namespace DistributedNN.Data;

/// <summary>
/// A folder-per-class image data set, as torchvision's ImageFolder: <c>DIR/train/&lt;class&gt;/*.png|jpg|…</c> and
/// <c>DIR/test/&lt;class&gt;/…</c>. Classes are the training folder's subfolders in ordinal order (label 0 first); a test
/// class must be one of them. Images are decoded in parallel (StbImageSharp): colour (3 channels) if any image has colour,
/// else grayscale; each resized (bilinear, pixel centres) to the given size, by default the first training image's;
/// stored channel-major (C × H × W) as bytes, read as <c>byte / 255f</c> as the IDX reader's. A file that is not an image is a
/// one-line error naming it.
/// </summary>
public static class ImageFolder
{
    public static readonly string[] Extensions = [".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tga", ".pgm", ".ppm"];

    /// <summary>Whether <paramref name="directory"/> looks like an image folder: train/ and test/ subfolders.</summary>
    public static bool Is(string directory) => Directory.Exists(Path.Combine(directory, "train")) && Directory.Exists(Path.Combine(directory, "test"));

    /// <param name="size">"W×H", "WxH" or one number for a square; null: the first training image's size</param>
    public static TrainTestData Load(string directory, string? size = null)
    {
        string trainDir = Path.Combine(directory, "train"), testDir = Path.Combine(directory, "test");
        var classes = Directory.GetDirectories(trainDir).Select(Path.GetFileName).OfType<string>().Where(n => !n.StartsWith('.')).Order(StringComparer.Ordinal).ToArray();
        if (classes.Length == 0) throw new DataFormatException($"{trainDir}: no class folders (an image folder holds train/<class>/<images> and test/<class>/<images>)");
        var train = Files(trainDir, classes, directory);
        var unknown = Directory.GetDirectories(testDir).Select(Path.GetFileName).OfType<string>().Where(n => !n.StartsWith('.') && !classes.Contains(n)).ToArray();
        if (unknown.Length > 0) throw new DataFormatException($"{testDir}/{unknown[0]}: a test class that train/ does not have");
        var test = Files(testDir, classes, directory);
        if (train.Count == 0) throw new DataFormatException($"{trainDir}: no images ({string.Join(", ", Extensions)})");
        if (test.Count == 0) throw new DataFormatException($"{testDir}: no images ({string.Join(", ", Extensions)})");

        bool colour = OneError(() => train.Concat(test).AsParallel().Any(f => Info(f.Path).ColorComponents is ColorComponents.RedGreenBlue or ColorComponents.RedGreenBlueAlpha));
        var (width, height) = size is null ? Dimensions(Info(train[0].Path)) : ParseSize(size);
        int channels = colour ? 3 : 1;
        string name = Path.GetFileName(Path.TrimEndingDirectorySeparator(directory));
        var trainSet = Decode(train, channels, width, height, classes.Length, $"{name} train");
        var testSet = Decode(test, channels, width, height, classes.Length, $"{name} test");
        return new TrainTestData(trainSet, testSet, directory, InputTransform.Pixels.WithClasses(classes));
    }

    /// <summary>An --image-size: "W×H", "WxH" or one number for a square.</summary>
    public static (int Width, int Height) ParseSize(string size)
    {
        var parts = size.ToLowerInvariant().Split('x', '×');
        bool ok = (parts.Length is 1 or 2) && parts.All(p => int.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out int v) && v is >= 1 and <= 4096);
        if (!ok) throw new UserErrorException($"--image-size '{size}' must be a width×height such as 28x28, or one number for a square (1 to 4096)");
        int w = int.Parse(parts[0], CultureInfo.InvariantCulture);
        return (w, parts.Length == 2 ? int.Parse(parts[1], CultureInfo.InvariantCulture) : w);
    }

    private static List<(string Path, int Label)> Files(string root, string[] classes, string directory)
    {
        var files = new List<(string, int)>();
        for (int label = 0; label < classes.Length; label++)
        {
            string folder = Path.Combine(root, classes[label]);
            if (!Directory.Exists(folder)) continue; // a class the test set lacks
            foreach (var file in Directory.GetFiles(folder).Where(f => Extensions.Contains(Path.GetExtension(f).ToLowerInvariant())).Order(StringComparer.Ordinal))
                files.Add((file, label));
        }
        return files;
    }

    private static ImageInfo Info(string path)
    {
        try
        {
            using var stream = File.OpenRead(path);
            return ImageInfo.FromStream(stream) is { } info ? info : throw new DataFormatException($"{path}: not an image this can read");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException or ArgumentException or NotSupportedException)
        {
            throw new DataFormatException($"{path}: not an image this can read ({e.Message.Split('\n')[0].TrimEnd('.')})");
        }
    }

    private static (int, int) Dimensions(ImageInfo info) => (info.Width, info.Height);

    private static Dataset Decode(List<(string Path, int Label)> files, int channels, int width, int height, int classes, string name)
    {
        int size = channels * width * height;
        if ((long)files.Count * size > Array.MaxLength)
            throw new DataFormatException($"{name}: {files.Count} images of {size} bytes are more than one array holds; make --image-size smaller");
        var pixels = GC.AllocateUninitializedArray<byte>(files.Count * size);
        var labels = files.Select(f => f.Label).ToArray();
        OneError(() => Parallel.For(0, files.Count, i =>
        {
            var (path, _) = files[i];
            ImageResult image;
            try { image = ImageResult.FromMemory(File.ReadAllBytes(path), channels == 3 ? ColorComponents.RedGreenBlue : ColorComponents.Grey); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException or ArgumentException or IndexOutOfRangeException or NotSupportedException)
            {
                throw new DataFormatException($"{path}: not an image this can read ({e.Message.Split('\n')[0].TrimEnd('.')})");
            }
            var into = pixels.AsSpan(i * size, size);
            Resize(image.Data, image.Width, image.Height, channels, width, height, into);
        }));
        return new Dataset(name, SampleRows.Of(pixels, size), labels, classes);
    }

    // the first bad file of a parallel pass, said as itself
    private static T OneError<T>(Func<T> pass)
    {
        try { return pass(); }
        catch (AggregateException e) when (e.Flatten().InnerExceptions.FirstOrDefault(x => x is UserErrorException) is { } first)
        {
            throw first;
        }
    }

    /// <summary>Interleaved bytes (H × W × C) to channel-major bytes (C × H' × W'), bilinear over pixel centres when the size differs, rounded.</summary>
    public static void Resize(byte[] source, int sw, int sh, int channels, int width, int height, Span<byte> into)
    {
        for (int c = 0; c < channels; c++)
            for (int y = 0; y < height; y++)
            {
                double fy = sh == height ? y : Math.Clamp((y + 0.5) * sh / height - 0.5, 0, sh - 1);
                int y0 = (int)fy, y1 = Math.Min(y0 + 1, sh - 1);
                double wy = fy - y0;
                for (int x = 0; x < width; x++)
                {
                    double fx = sw == width ? x : Math.Clamp((x + 0.5) * sw / width - 0.5, 0, sw - 1);
                    int x0 = (int)fx, x1 = Math.Min(x0 + 1, sw - 1);
                    double wx = fx - x0;
                    byte At(int yy, int xx) => source[(yy * sw + xx) * channels + c];
                    double v = (1 - wy) * ((1 - wx) * At(y0, x0) + wx * At(y0, x1)) + wy * ((1 - wx) * At(y1, x0) + wx * At(y1, x1));
                    into[(c * height + y) * width + x] = (byte)Math.Round(v);
                }
            }
    }
}
