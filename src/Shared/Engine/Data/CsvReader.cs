using System.Globalization;

namespace DistributedNN.Data;

/// <summary>
/// Reads a numeric CSV file whose rows are one sample each: feature columns plus one label column
/// holding a class index (a non-negative integer; "3.0" is accepted, "3.5" is not). Numbers use
/// the invariant culture (a dot as the decimal point). Blank lines are skipped; fields are
/// trimmed and may be wrapped in double quotes, but quoted fields cannot contain the separator.
/// </summary>
/// <remarks>
/// Features are returned as read; standardising them is the job of <see cref="Normalizer"/>, which
/// must see only the training rows. Every problem is a <see cref="DataFormatException"/> whose
/// message is one line naming the file and, where there is one, the 1-based line number:
/// <c>"PATH line N: problem"</c> or <c>"PATH: problem"</c>.
/// </remarks>
public static class CsvReader
{
    /// <summary>The largest label accepted; a larger one is far more likely a wrong label column than a real class.</summary>
    public const int MaxLabel = 65535;

    private const int MaxQuotedFieldLength = 40;

    /// <summary>
    /// Reads the file as one data set named after the file. <see cref="Dataset.ClassCount"/> is the
    /// largest label + 1.
    /// </summary>
    public static Dataset Read(string path, CsvOptions? options = null)
    {
        options ??= new CsvOptions();
        using var reader = OpenText(path);
        var rows = new RowCollector();
        Layout? layout = null;
        int lineNumber = 0;
        try
        {
            while (reader.ReadLine() is { } line)
            {
                lineNumber++;
                if (string.IsNullOrWhiteSpace(line))
                    continue;
                if (layout is null)
                {
                    layout = Layout.FromFirstRow(path, lineNumber, line, options);
                    if (layout.FirstRowIsHeader)
                        continue;
                }
                ParseRow(path, lineNumber, line, layout, rows);
            }
        }
        catch (IOException ex)
        {
            throw new DataFormatException($"{path}: read error ({ex.Message.ReplaceLineEndings(" ").TrimEnd('.')})", ex);
        }

        if (layout is null)
            throw new DataFormatException($"{path}: empty file");
        if (rows.Count == 0)
            throw new DataFormatException($"{path}: no data rows, only a header on line {layout.FirstLine}");
        return rows.ToDataset(Path.GetFileNameWithoutExtension(path), layout.LabelIndex < 0 ? layout.ColumnCount : layout.ColumnCount - 1);
    }

    private static StreamReader OpenText(string path)
    {
        if (Directory.Exists(path))
            throw new DataFormatException($"{path}: is a directory, not a CSV file");
        try
        {
            return new StreamReader(path, detectEncodingFromByteOrderMarks: true);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new DataFormatException($"{path}: file not found", ex);
        }
        catch (UnauthorizedAccessException ex)
        {
            throw new DataFormatException($"{path}: permission denied", ex);
        }
    }

    /// <summary>What the first non-blank row tells about the rest of the file.</summary>
    private sealed record Layout(char Separator, int ColumnCount, int LabelIndex, bool FirstRowIsHeader, int FirstLine)
    {
        public static Layout FromFirstRow(string path, int lineNumber, string line, CsvOptions options)
        {
            char separator = options.Separator ?? DetectSeparator(line);
            int columnCount = CountFields(line, separator);
            if (options.Unlabelled)
                return new Layout(separator, columnCount, -1, options.HasHeader ?? !AllFieldsAreNumbers(line, separator), lineNumber);
            if (columnCount < 2)
                throw new DataFormatException($"{path} line {lineNumber}: found 1 column but a row needs at least one feature and a label (separate columns with ',', ';' or tab)");
            int labelIndex = options.LabelColumn.IndexIn(columnCount);
            if (labelIndex < 0)
                throw new DataFormatException($"{path} line {lineNumber}: label column {options.LabelColumn} does not exist (the row has {columnCount} columns)");
            bool header = options.HasHeader ?? !AllFieldsAreNumbers(line, separator);
            return new Layout(separator, columnCount, labelIndex, header, lineNumber);
        }
    }

    private static char DetectSeparator(string line)
    {
        var span = line.AsSpan();
        int commas = span.Count(','), semicolons = span.Count(';'), tabs = span.Count('\t');
        if (semicolons > commas && semicolons >= tabs)
            return ';';
        return tabs > commas ? '\t' : ',';
    }

    private static int CountFields(string line, char separator) => line.AsSpan().Count(separator) + 1;

    private static bool AllFieldsAreNumbers(string line, char separator)
    {
        var span = line.AsSpan();
        foreach (var range in span.Split(separator))
        {
            if (!float.TryParse(CleanField(span[range]), NumberStyles.Float, CultureInfo.InvariantCulture, out _))
                return false;
        }
        return true;
    }

    private static void ParseRow(string path, int lineNumber, string line, Layout layout, RowCollector rows)
    {
        int found = CountFields(line, layout.Separator);
        if (found != layout.ColumnCount)
            throw new DataFormatException($"{path} line {lineNumber}: expected {layout.ColumnCount} columns, found {found}");

        var span = line.AsSpan();
        int column = 0;
        foreach (var range in span.Split(layout.Separator))
        {
            var field = CleanField(span[range]);
            if (column == layout.LabelIndex)
                rows.AddLabel(ParseLabel(path, lineNumber, field));
            else
                rows.AddFeature(ParseFeature(path, lineNumber, column, field));
            column++;
        }
        if (layout.LabelIndex < 0) rows.AddLabel(0);
    }

    private static float ParseFeature(string path, int lineNumber, int column, ReadOnlySpan<char> field)
    {
        if (!float.TryParse(field, NumberStyles.Float, CultureInfo.InvariantCulture, out float value))
            throw new DataFormatException($"{path} line {lineNumber}: {Quote(field)} in column {column + 1} is not a number",
                withoutContents: $"{path} line {lineNumber}: column {column + 1} is not a number");
        if (!float.IsFinite(value))
            throw new DataFormatException($"{path} line {lineNumber}: {Quote(field)} in column {column + 1} is not a finite number",
                withoutContents: $"{path} line {lineNumber}: column {column + 1} is not a finite number");
        return value;
    }

    private static int ParseLabel(string path, int lineNumber, ReadOnlySpan<char> field)
    {
        // Parsed as a double so that integral values written as floats ("3.0", "3e0") are accepted.
        if (!double.TryParse(field, NumberStyles.Float, CultureInfo.InvariantCulture, out double value)
            || !double.IsFinite(value) || value < 0 || value != System.Math.Floor(value))
            throw new DataFormatException($"{path} line {lineNumber}: label {Quote(field)} is not a non-negative integer",
                withoutContents: $"{path} line {lineNumber}: the label is not a non-negative integer");
        if (value > MaxLabel)
            throw new DataFormatException($"{path} line {lineNumber}: label {Quote(field)} is too large (at most {MaxLabel}; is the label column right?)",
                withoutContents: $"{path} line {lineNumber}: the label is too large (at most {MaxLabel})");
        return (int)value;
    }

    private static ReadOnlySpan<char> CleanField(ReadOnlySpan<char> field)
    {
        field = field.Trim();
        if (field.Length >= 2 && field[0] == '"' && field[^1] == '"')
            field = field[1..^1].Trim();
        return field;
    }

    // A runaway field (e.g. a whole line when the separator is wrong) must not flood the message.
    private static string Quote(ReadOnlySpan<char> field) => field.Length <= MaxQuotedFieldLength
        ? $"'{field}'"
        : $"'{field[..MaxQuotedFieldLength]}…'";

    /// <summary>Accumulates rows without a per-row allocation.</summary>
    private sealed class RowCollector
    {
        private readonly List<float> _features = [];
        private readonly List<int> _labels = [];
        private int _maxLabel;

        public int Count => _labels.Count;

        public void AddFeature(float value) => _features.Add(value);

        public void AddLabel(int label)
        {
            _labels.Add(label);
            _maxLabel = System.Math.Max(_maxLabel, label);
        }

        public Dataset ToDataset(string name, int featureCount) =>
            new(name, _features.ToArray(), _labels.ToArray(), featureCount, _maxLabel + 1);
    }
}
