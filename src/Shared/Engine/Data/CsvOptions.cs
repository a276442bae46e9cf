namespace DistributedNN.Data;

/// <summary>How <see cref="CsvReader"/> interprets a CSV file.</summary>
public sealed record CsvOptions
{
    /// <summary>Which column holds the class label; the last column unless set.</summary>
    public LabelColumn LabelColumn { get; init; } = LabelColumn.Last;

    /// <summary>Every column is a feature (rows to classify): the data set's labels are all 0, one class.</summary>
    public bool Unlabelled { get; init; }

    /// <summary>
    /// Whether the first non-blank row is a header. <c>null</c> (the default) detects it: the row is a
    /// header if any of its fields is not a number.
    /// </summary>
    public bool? HasHeader { get; init; }

    /// <summary>
    /// The field separator. <c>null</c> (the default) picks whichever of comma, semicolon and tab occurs
    /// most often in the first non-blank row (comma on a tie).
    /// </summary>
    public char? Separator { get; init; }
}
