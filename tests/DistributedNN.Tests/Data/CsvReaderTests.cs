using DistributedNN.Data;

namespace DistributedNN.Tests.Data;

public sealed class CsvReaderTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void A_non_numeric_first_row_is_taken_as_a_header()
    {
        var path = _dir.WriteText("data.csv", "width,height,class\n1.5,2,0\n-3,4e1,2\n");

        var data = CsvReader.Read(path);

        Assert.Equal("data", data.Name);
        Assert.Equal(2, data.Count);
        Assert.Equal(2, data.FeatureCount);
        Assert.Equal(3, data.ClassCount);
        Assert.Equal([1.5f, 2f, -3f, 40f], data.Features);
        Assert.Equal([0, 2], data.Labels);
    }

    [Fact]
    public void A_numeric_first_row_is_data()
    {
        var path = _dir.WriteText("data.csv", "1,2,0\n3,4,1\n");

        var data = CsvReader.Read(path);

        Assert.Equal(2, data.Count);
        Assert.Equal([1f, 2f, 3f, 4f], data.Features);
    }

    [Fact]
    public void The_label_can_be_the_first_column()
    {
        var path = _dir.WriteText("data.csv", "label,a,b\n1,10,20\n0,30,40\n");

        var data = CsvReader.Read(path, new CsvOptions { LabelColumn = LabelColumn.First });

        Assert.Equal([1, 0], data.Labels);
        Assert.Equal([10f, 20f, 30f, 40f], data.Features);
    }

    [Fact]
    public void The_label_can_be_a_middle_column_given_by_number()
    {
        var path = _dir.WriteText("data.csv", "10,1,20\n30,0,40\n");

        var data = CsvReader.Read(path, new CsvOptions { LabelColumn = LabelColumn.Parse("2") });

        Assert.Equal([1, 0], data.Labels);
        Assert.Equal([10f, 20f, 30f, 40f], data.Features);
    }

    [Theory]
    [InlineData("first", "first")]
    [InlineData("LAST", "last")]
    [InlineData("3", "3")]
    public void Label_column_values_parse(string text, string expected)
    {
        Assert.Equal(expected, LabelColumn.Parse(text).ToString());
    }

    [Fact]
    public void A_bad_label_column_value_is_a_user_error()
    {
        var error = Assert.Throws<UserErrorException>(() => LabelColumn.Parse("0"));

        Assert.Equal("label column '0' must be 'first', 'last' or a column number (1 = first column)", error.Message);
    }

    [Fact]
    public void Semicolon_and_tab_separators_are_detected()
    {
        var semicolons = _dir.WriteText("a.csv", "1;2;0\n3;4;1\n");
        var tabs = _dir.WriteText("b.tsv", "x\ty\tlabel\n1\t2\t0\n");

        Assert.Equal([1f, 2f, 3f, 4f], CsvReader.Read(semicolons).Features);
        Assert.Equal([1f, 2f], CsvReader.Read(tabs).Features);
    }

    [Fact]
    public void Blank_lines_quotes_spaces_and_windows_line_endings_are_tolerated()
    {
        var path = _dir.WriteText("data.csv", "\"a\",\"b\",\"label\"\r\n\r\n 1 , \"2\" , 1 \r\n\r\n");

        var data = CsvReader.Read(path);

        Assert.Equal([1f, 2f], data.Features);
        Assert.Equal([1], data.Labels);
    }

    [Fact]
    public void Integral_labels_written_as_floats_are_accepted()
    {
        var path = _dir.WriteText("data.csv", "1,3.0\n2,0e0\n");

        Assert.Equal([3, 0], CsvReader.Read(path).Labels);
    }

    [Fact]
    public void A_row_with_the_wrong_number_of_columns_names_the_line()
    {
        var path = _dir.WriteText("data.csv", "a,b,c,d,label\n1,2,3,4,0\n\n1,2,3,0\n");

        var error = Assert.Throws<DataFormatException>(() => CsvReader.Read(path));

        Assert.Equal($"{path} line 4: expected 5 columns, found 4", error.Message);
    }

    [Fact]
    public void A_value_that_is_not_a_number_names_line_column_and_text()
    {
        var path = _dir.WriteText("data.csv", "1,2,0\n3,4,1\n5,abc,1\n");

        var error = Assert.Throws<DataFormatException>(() => CsvReader.Read(path));

        Assert.Equal($"{path} line 3: 'abc' in column 2 is not a number", error.Message);
    }

    [Fact]
    public void A_decimal_comma_is_not_a_number_because_the_culture_is_invariant()
    {
        var path = _dir.WriteText("data.csv", "x;label\n1,5;0\n");

        var error = Assert.Throws<DataFormatException>(() => CsvReader.Read(path));

        Assert.Equal($"{path} line 2: '1,5' in column 1 is not a number", error.Message);
    }

    [Fact]
    public void Infinite_values_are_rejected()
    {
        var path = _dir.WriteText("data.csv", "1,0\n1e99,1\n");

        var error = Assert.Throws<DataFormatException>(() => CsvReader.Read(path));

        Assert.Equal($"{path} line 2: '1e99' in column 1 is not a finite number", error.Message);
    }

    [Theory]
    [InlineData("1.5")]
    [InlineData("-1")]
    [InlineData("cat")]
    [InlineData("")]
    public void A_label_that_is_not_a_class_index_names_the_line(string label)
    {
        var path = _dir.WriteText("data.csv", $"1,2,0\n1,2,1\n1,2,0\n1,2,{label}\n");

        var error = Assert.Throws<DataFormatException>(() => CsvReader.Read(path));

        Assert.Equal($"{path} line 4: label '{label}' is not a non-negative integer", error.Message);
    }

    [Fact]
    public void A_huge_label_suggests_the_label_column_is_wrong()
    {
        var path = _dir.WriteText("data.csv", "1,70000\n");

        var error = Assert.Throws<DataFormatException>(() => CsvReader.Read(path));

        Assert.Equal($"{path} line 1: label '70000' is too large (at most 65535; is the label column right?)", error.Message);
    }

    [Fact]
    public void An_explicit_header_setting_overrides_detection()
    {
        var path = _dir.WriteText("data.csv", "1,2,0\n3,4,1\n");

        var data = CsvReader.Read(path, new CsvOptions { HasHeader = true });

        Assert.Equal([3f, 4f], data.Features);
    }

    [Theory]
    [InlineData("")]
    [InlineData("\n  \n\n")]
    public void An_empty_file_is_reported(string content)
    {
        var path = _dir.WriteText("data.csv", content);

        var error = Assert.Throws<DataFormatException>(() => CsvReader.Read(path));

        Assert.Equal($"{path}: empty file", error.Message);
    }

    [Fact]
    public void A_header_without_rows_is_reported()
    {
        var path = _dir.WriteText("data.csv", "a,b,label\n");

        var error = Assert.Throws<DataFormatException>(() => CsvReader.Read(path));

        Assert.Equal($"{path}: no data rows, only a header on line 1", error.Message);
    }

    [Fact]
    public void A_single_column_is_not_enough()
    {
        var path = _dir.WriteText("data.csv", "1\n2\n");

        var error = Assert.Throws<DataFormatException>(() => CsvReader.Read(path));

        Assert.Equal($"{path} line 1: found 1 column but a row needs at least one feature and a label (separate columns with ',', ';' or tab)", error.Message);
    }

    [Fact]
    public void A_label_column_beyond_the_row_is_reported()
    {
        var path = _dir.WriteText("data.csv", "1,2,0\n");

        var error = Assert.Throws<DataFormatException>(() => CsvReader.Read(path, new CsvOptions { LabelColumn = LabelColumn.Number(7) }));

        Assert.Equal($"{path} line 1: label column 7 does not exist (the row has 3 columns)", error.Message);
    }

    [Fact]
    public void A_missing_file_is_reported_by_name()
    {
        var path = _dir.File("absent.csv");

        var error = Assert.Throws<DataFormatException>(() => CsvReader.Read(path));

        Assert.Equal($"{path}: file not found", error.Message);
    }
}
