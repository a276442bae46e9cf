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

    public static Command Create(TextWriter stdout)
    {
        var model = new Argument<string>("model") { Description = "A model file (or its JSON export)." };
        var inputs = new Argument<string[]>("inputs") { Description = "Images (PNG, PGM, JPEG, BMP: grayscale, one pixel per input), a CSV file of rows to classify (features only, or with a label column), or an IDX folder (its test samples). The model's own input transform is applied: give raw values.", Arity = ArgumentArity.OneOrMore };
        var labels = new Option<string?>("--labels") { Description = "Class names: fashion-mnist, or a comma-separated list (label 0 first). Default: the model's own, else the label numbers." };
        var labelColumn = new Option<string>("--label-column") { Description = "For a CSV file with one column more than the model's inputs: the label column: first, last or a 1-based number.", DefaultValueFactory = _ => "last" };
        var top = new Option<int>("--top") { Description = "Probabilities shown per sample.", DefaultValueFactory = _ => 3 };
        var format = new Option<string>("--format") { Description = "text (each sample's best classes), or csv (every output at full precision: sample, predicted, true label, one column per class).", DefaultValueFactory = _ => "text" };
        var limit = new Option<int?>("--limit") { Description = "Samples to classify, from the first (default: every row of a CSV file, 20 of a data set)." };
        var command = new Command("predict", "Classify inputs with a saved model: prints each one's predicted label and its top probabilities.\n\nExamples:\n" +
            "  dnn predict model.dnn shoe.png --labels fashion-mnist\n  dnn predict model.dnn rows.csv\n  dnn predict model.dnn /usr/share/datasets/fashion-mnist --limit 10");
        command.Arguments.Add(model);
        command.Arguments.Add(inputs);
        foreach (var o in new Option[] { labels, labelColumn, top, limit, format }) command.Options.Add(o);
        command.SetAction(parse =>
        {
            var trained = ModelLoader.Load(parse.GetValue(model)!);
            var spec = trained.Spec;
            string[] names = ClassNames.ForDisplay(parse.GetValue(labels), trained, "--labels");
            int topK = parse.GetValue(top);
            int? max = parse.GetValue(limit);
            if (topK < 1) throw new UserErrorException($"--top must be at least 1 (got {topK})");
            if (max < 1) throw new UserErrorException($"--limit must be at least 1 (got {max})");
            string how = parse.GetValue(format)!;
            if (how is not ("text" or "csv")) throw new UserErrorException($"--format must be text or csv (got '{how}')");
            var column = LabelColumn.Parse(parse.GetValue(labelColumn)!);
            var rows = Rows(trained, parse.GetValue(inputs)!, column, max);

            var backprop = new Backprop(spec, 1);
            var inv = CultureInfo.InvariantCulture;
            int correct = 0, known = 0;
            if (how == "csv") stdout.WriteLine("sample,predicted,true," + string.Join(",", (spec.OutputSize == 1 ? ["p(1)"] : names).Select(Csv)));
            foreach (var (name, x, truth) in rows)
            {
                var output = backprop.Forward(trained.Parameters, x, 1).ToArray();
                int best = Predict(output);
                if (how == "csv")
                {
                    stdout.WriteLine($"{Csv(name)},{Csv(names[best])},{(truth is { } tl ? Csv(tl < names.Length ? names[tl] : tl.ToString(inv)) : "")}," +
                        string.Join(",", output.Select(v => v.ToString("R", inv))));
                    continue;
                }
                var ranked = Enumerable.Range(0, output.Length).OrderByDescending(k => output[k]).Take(topK);
                string shown = spec.OutputSize == 1
                    ? string.Format(inv, "p(1)={0:F4}", output[0])
                    : string.Join("  ", ranked.Select(k => string.Format(inv, "{0} {1:F4}", names[k], output[k])));
                string label = names[best];
                string check = truth is { } t ? $"  (true: {(t < names.Length ? names[t] : t.ToString(inv))}{(t == best ? "" : ", wrong")})" : "";
                if (truth is { } tt) { known++; if (tt == best) correct++; }
                stdout.WriteLine($"{name}: {label}  [{shown}]{check}");
            }
            if (known > 0 && how == "text") stdout.WriteLine(string.Format(inv, "{0} of {1} right ({2:P1})", correct, known, (double)correct / known));
            return DnnCli.Ok;
        });
        return command;
    }

    /// <summary>The samples to classify as the network's inputs, each with its name and its label where known.</summary>
    private static List<(string Name, float[] X, int? Truth)> Rows(TrainedModel trained, string[] items, LabelColumn column, int? max)
    {
        var spec = trained.Spec;
        var rows = new List<(string Name, float[] X, int? Truth)>();
        if (items.All(i => ImageExtensions.Contains(Path.GetExtension(i).ToLowerInvariant())))
        {
            foreach (var item in items.Take(max ?? int.MaxValue))
            {
                var pixels = LoadImage(item, spec.InputShape);
                rows.Add((item, trained.Input is { } input ? input.Apply(pixels, InputTransform.Pixels) : pixels, null));
            }
            return rows;
        }
        if (items.Length != 1) throw new UserErrorException("give image files (.png, .pgm, .jpg, .bmp, …), one CSV file or one data set (an IDX folder)");
        bool csvFile = File.Exists(items[0]);
        Dataset data;
        bool labelled = true;
        InputTransform applied;
        if (csvFile)
        {
            if (trained.Input is null)
                throw new UserErrorException($"{items[0]}: the model keeps no input transform (written before model format version 3), so its rows cannot be scaled as in training; retrain it, or give a data set");
            (data, labelled) = CsvRows(items[0], spec.InputSize, column);
            applied = InputTransform.Identity;
        }
        else
        {
            // an old model (no transform of its own) gets the data set's, as before
            var shape = spec.InputShape;
            var sets = DataSource.Load(items[0], new DataSourceOptions
            {
                Standardise = trained.Input is null, Csv = new CsvOptions { LabelColumn = column }, ImageSize = shape.IsFlat ? null : $"{shape.Width}x{shape.Height}",
            });
            (data, applied) = (sets.Test, sets.Transform);
        }
        if (data.FeatureCount != spec.InputSize)
            throw new UserErrorException($"the model takes {spec.InputSize} inputs but {data.Name} has {data.FeatureCount} features");
        if (trained.Input is { } transform) data = transform.Apply(data, applied);
        for (int i = 0; i < System.Math.Min(max ?? (csvFile ? int.MaxValue : 20), data.Count); i++)
            rows.Add(($"{data.Name}[{i}]", data.Sample(i), labelled ? data.Labels[i] : null));
        return rows;
    }

    /// <summary>A CSV file's rows: features only when a row has as many columns as the model has inputs, with a label
    /// column (<paramref name="column"/>) when it has one more.</summary>
    private static (Dataset Data, bool Labelled) CsvRows(string path, int inputs, LabelColumn column)
    {
        var rows = CsvReader.Read(path, new CsvOptions { Unlabelled = true });
        if (rows.FeatureCount == inputs) return (rows, false);
        if (rows.FeatureCount == inputs + 1) return (CsvReader.Read(path, new CsvOptions { LabelColumn = column }), true);
        throw new UserErrorException($"{path}: rows of {rows.FeatureCount} columns, but the model takes {inputs} inputs (give {inputs} feature columns, or {inputs + 1} with a label)");
    }

    private static string Csv(string field) => field.IndexOfAny([',', '"', '\n', '\r']) < 0 ? field : $"\"{field.Replace("\"", "\"\"")}\"";

    /// <summary>The engine's own decision (as in evaluate): the largest output, or output ≥ 0.5 for one output.</summary>
    private static unsafe int Predict(float[] output)
    {
        fixed (float* o = output) return Losses.Predict(o, output.Length);
    }

    /// <summary>An image as grayscale pixels / 255 (row-major), checked against the model's input count.</summary>
    /// <remarks>A model with an image input (a model spec's [C, H, W]) takes any image: decoded with its channels and
    /// resized to its size, as an image folder's are; a flat input takes a grayscale image of exactly its size.</remarks>
    internal static float[] LoadImage(string path, TensorShape shape)
    {
        if (!File.Exists(path)) throw new UserErrorException($"{path} does not exist");
        int inputs = shape.Size, width, height;
        float[] gray;
        try
        {
            byte[] bytes = File.ReadAllBytes(path);
            bool pgm = bytes.Length >= 2 && bytes[0] == (byte)'P' && bytes[1] is (byte)'2' or (byte)'5';
            if (!shape.IsFlat && shape.Channels is 1 or 3 && !pgm)
            {
                var decoded = ImageResult.FromMemory(bytes, shape.Channels == 3 ? ColorComponents.RedGreenBlue : ColorComponents.Grey);
                var resized = new byte[inputs];
                ImageFolder.Resize(decoded.Data, decoded.Width, decoded.Height, shape.Channels, shape.Width, shape.Height, resized);
                var pixels = new float[inputs];
                SampleRows.Scale(resized, pixels);
                return pixels;
            }
            if (pgm)
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
