using System.Globalization;

namespace DistributedNN.Data;

/// <summary>
/// The column of a CSV file that holds the class label: the first, the last, or a column number.
/// Column numbers count from 1, as in the reader's error messages ("column 2") and in spreadsheets.
/// <c>default(LabelColumn)</c> is <see cref="Last"/>.
/// </summary>
public readonly record struct LabelColumn
{
    // 0 means "last", so that default(LabelColumn) is the usual layout.
    private readonly int _number;

    private LabelColumn(int number) => _number = number;

    public static LabelColumn First => new(1);

    public static LabelColumn Last => default;

    /// <summary>The column with 1-based number <paramref name="number"/>.</summary>
    public static LabelColumn Number(int number)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(number);
        return new LabelColumn(number);
    }

    /// <summary>Parses a command-line value: <c>first</c>, <c>last</c> or a 1-based column number.</summary>
    /// <exception cref="UserErrorException">The text is none of those.</exception>
    public static LabelColumn Parse(string text)
    {
        var trimmed = text.Trim();
        if (trimmed.Equals("first", StringComparison.OrdinalIgnoreCase))
            return First;
        if (trimmed.Equals("last", StringComparison.OrdinalIgnoreCase))
            return Last;
        if (int.TryParse(trimmed, NumberStyles.None, CultureInfo.InvariantCulture, out int number) && number > 0)
            return new LabelColumn(number);
        throw new UserErrorException($"label column '{text}' must be 'first', 'last' or a column number (1 = first column)");
    }

    /// <summary>The 0-based index of this column in a row of <paramref name="columnCount"/> columns, or -1 if the row is too short.</summary>
    internal int IndexIn(int columnCount) => _number == 0 ? columnCount - 1 : _number <= columnCount ? _number - 1 : -1;

    public override string ToString() => _number switch
    {
        0 => "last",
        1 => "first",
        _ => _number.ToString(CultureInfo.InvariantCulture),
    };
}
