using System.CommandLine;
using System.Globalization;
using DistributedNN.Data;
using DistributedNN.Model;
using DistributedNN.Serialization;
using StbImageSharp;

namespace DistributedNN.Coordinator.Cli;

/// <summary>`dnn predict`: classify images, or the samples of a data set, with a saved model.</summary>
public static class PredictCommand
{
    private static readonly string[] ImageExtensions = [".png", ".pgm", ".pnm", ".ppm", ".jpg", ".jpeg", ".bmp", ".gif", ".tga"];

    /// <summary>Fashion-MNIST's class names (labels 0–9), for --labels fashion-mnist.</summary>
    public static readonly string[] FashionMnistClasses = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    public static Command Create(TextWriter stdout)
    {
        var model = new Argument<string>("model") { Description = "A model file (or its JSON export)." };
        var inputs = new Argument<string[]>("inputs") { Description = "Images (PNG, PGM, JPEG, BMP: grayscale, one pixel per input, scaled to [0, 1] as the IDX files are) or one data set (IDX folder or CSV, as for train: its test samples).", Arity = ArgumentArity.OneOrMore };
        var labels = new Option<string?>("--labels") { Description = "Class names: fashion-mnist, or a comma-separated list (label 0 first)." };
        var top = new Option<int>("--top") { Description = "Probabilities shown per sample.", DefaultValueFactory = _ => 3 };
        var limit = new Option<int>("--limit") { Description = "For a data set: samples to classify (from the first).", DefaultValueFactory = _ => 20 };
        var command = new Command("predict", "Classify inputs with a saved model: prints each one's predicted label and its top probabilities.\n\nExamples:\n" +
            "  dnn predict model.dnn shoe.png --labels fashion-mnist\n  dnn predict model.dnn /usr/share/datasets/fashion-mnist --limit 10");
        command.Arguments.Add(model);
        command.Arguments.Add(inputs);
        foreach (var o in new Option[] { labels, top, limit }) command.Options.Add(o);
        command.SetAction(parse =>
        {
            var trained = ModelLoader.Load(parse.GetValue(model)!);
            var spec = trained.Spec;
            string[] names = ParseLabels(parse.GetValue(labels), spec.OutputSize);
            int topK = parse.GetValue(top), max = parse.GetValue(limit);
            if (topK < 1) throw new UserErrorException($"--top must be at least 1 (got {topK})");
            if (max < 1) throw new UserErrorException($"--limit must be at least 1 (got {max})");
            string[] items = parse.GetValue(inputs)!;
            var rows = new List<(string Name, float[] X, int? Truth)>();
            bool images = items.All(i => ImageExtensions.Contains(Path.GetExtension(i).ToLowerInvariant()));
            if (images)
                foreach (var item in items) rows.Add((item, LoadImage(item, spec.InputSize), null));
            else if (items.Length == 1)
            {
                var test = DataSource.Load(items[0]).Test;
                if (test.FeatureCount != spec.InputSize)
                    throw new UserErrorException($"the model takes {spec.InputSize} inputs but {test.Name} has {test.FeatureCount} features");
                for (int i = 0; i < System.Math.Min(max, test.Count); i++) rows.Add(($"{test.Name}[{i}]", test.Sample(i).ToArray(), test.Labels[i]));
            }
            else throw new UserErrorException("give image files (.png, .pgm, .jpg, .bmp, …) or one data set (an IDX folder or a CSV file)");

            var backprop = new Backprop(spec, 1);
            var inv = CultureInfo.InvariantCulture;
            int correct = 0, known = 0;
            foreach (var (name, x, truth) in rows)
            {
                var output = backprop.Forward(trained.Parameters, x, 1).ToArray();
                int best = Predict(output);
                var ranked = Enumerable.Range(0, output.Length).OrderByDescending(k => output[k]).Take(topK);
                string shown = spec.OutputSize == 1
                    ? string.Format(inv, "p(1)={0:F4}", output[0])
                    : string.Join("  ", ranked.Select(k => string.Format(inv, "{0} {1:F4}", names[k], output[k])));
                string label = names[best];
                string check = truth is { } t ? $"  (true: {names[System.Math.Min(t, names.Length - 1)]}{(t == best ? "" : ", wrong")})" : "";
                if (truth is { } tt) { known++; if (tt == best) correct++; }
                stdout.WriteLine($"{name}: {label}  [{shown}]{check}");
            }
            if (known > 0) stdout.WriteLine(string.Format(inv, "{0} of {1} right ({2:P1})", correct, known, (double)correct / known));
            return DnnCli.Ok;
        });
        return command;
    }

    /// <summary>The engine's own decision (as in evaluate): the largest output, or output ≥ 0.5 for one output.</summary>
    private static unsafe int Predict(float[] output)
    {
        fixed (float* o = output) return Losses.Predict(o, output.Length);
    }

    private static string[] ParseLabels(string? text, int outputs)
    {
        int classes = outputs == 1 ? 2 : outputs;
        if (text is null) return Enumerable.Range(0, classes).Select(i => i.ToString(CultureInfo.InvariantCulture)).ToArray();
        if (text.Equals("fashion-mnist", StringComparison.OrdinalIgnoreCase))
        {
            if (classes != 10) throw new UserErrorException($"--labels fashion-mnist names 10 classes but the model has {classes}");
            return FashionMnistClasses;
        }
        var names = text.Split(',', StringSplitOptions.TrimEntries);
        if (names.Length != classes) throw new UserErrorException($"--labels gives {names.Length} names but the model has {classes} classes");
        return names;
    }

    /// <summary>An image as grayscale pixels / 255 (row-major), checked against the model's input count.</summary>
    internal static float[] LoadImage(string path, int inputs)
    {
        if (!File.Exists(path)) throw new UserErrorException($"{path} does not exist");
        int width, height;
        float[] gray;
        try
        {
            byte[] bytes = File.ReadAllBytes(path);
            if (bytes.Length >= 2 && bytes[0] == (byte)'P' && bytes[1] is (byte)'2' or (byte)'5')
                (width, height, gray) = ReadPgm(bytes);
            else
            {
                var image = ImageResult.FromMemory(bytes, ColorComponents.Grey);
                (width, height) = (image.Width, image.Height);
                gray = image.Data.Take(width * height).Select(v => v / 255f).ToArray();
            }
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or ArgumentException or IndexOutOfRangeException or NotSupportedException or FormatException)
        {
            throw new UserErrorException($"{path}: not an image this can read ({e.Message.TrimEnd('.')})");
        }
        if (width * height != inputs)
            throw new UserErrorException($"{path} is {width}×{height} = {width * height} pixels but the model takes {inputs} inputs" +
                (inputs == 784 ? " (a 28×28 grayscale image, light object on a dark background as in Fashion-MNIST)" : ""));
        return gray;
    }

    /// <summary>A binary (P5) or text (P2) PGM, pixels scaled to [0, 1] by its maximum value.</summary>
    private static (int Width, int Height, float[] Gray) ReadPgm(byte[] bytes)
    {
        int pos = 2;
        int Next()
        {
            while (true)
            {
                while (pos < bytes.Length && char.IsWhiteSpace((char)bytes[pos])) pos++;
                if (pos < bytes.Length && bytes[pos] == (byte)'#') { while (pos < bytes.Length && bytes[pos] != (byte)'\n') pos++; continue; }
                break;
            }
            int start = pos;
            while (pos < bytes.Length && bytes[pos] is >= (byte)'0' and <= (byte)'9') pos++;
            if (pos == start || pos - start > 9) throw new FormatException("bad PGM header");
            return int.Parse(System.Text.Encoding.ASCII.GetString(bytes, start, pos - start), CultureInfo.InvariantCulture);
        }
        bool binary = bytes[1] == (byte)'5';
        int width = Next(), height = Next(), maxValue = Next();
        if (width < 1 || height < 1 || maxValue is < 1 or > 65535 || (long)width * height > 1 << 24) throw new FormatException("bad PGM size or maximum value");
        var gray = new float[width * height];
        if (binary)
        {
            pos++; // the one whitespace byte after the header
            int size = maxValue < 256 ? 1 : 2;
            if (bytes.Length - pos < (long)gray.Length * size) throw new FormatException($"PGM data ends early ({bytes.Length - pos} bytes for {gray.Length} pixels)");
            for (int i = 0; i < gray.Length; i++)
                gray[i] = (size == 1 ? bytes[pos + i] : (bytes[pos + 2 * i] << 8) | bytes[pos + 2 * i + 1]) / (float)maxValue;
        }
        else
            for (int i = 0; i < gray.Length; i++) gray[i] = Next() / (float)maxValue;
        return (width, height, gray);
    }
}
