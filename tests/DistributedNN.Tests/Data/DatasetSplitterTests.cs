using DistributedNN.Data;

namespace DistributedNN.Tests.Data;

public sealed class DatasetSplitterTests
{
    // Row i has features (i, -i) and label i % 3, so every row can be identified after the split.
    private static Dataset Rows(int count)
    {
        var features = new float[count * 2];
        var labels = new int[count];
        for (int i = 0; i < count; i++)
        {
            features[2 * i] = i;
            features[2 * i + 1] = -i;
            labels[i] = i % 3;
        }
        return new Dataset("rows", features, labels, 2, 3);
    }

    private static int[] RowIds(Dataset data) => Enumerable.Range(0, data.Count).Select(i => (int)data.Sample(i)[0]).ToArray();

    [Fact]
    public void The_split_partitions_all_rows_and_keeps_each_row_intact()
    {
        var (train, test) = DatasetSplitter.Split(Rows(100), 0.2, seed: 7);

        Assert.Equal(80, train.Count);
        Assert.Equal(20, test.Count);
        Assert.Equal(Enumerable.Range(0, 100), RowIds(train).Concat(RowIds(test)).Order());
        foreach (var part in new[] { train, test })
        {
            for (int i = 0; i < part.Count; i++)
            {
                int id = (int)part.Sample(i)[0];
                Assert.Equal(-id, part.Sample(i)[1]);
                Assert.Equal(id % 3, part.Labels[i]);
            }
            Assert.Equal(3, part.ClassCount);
        }
    }

    [Fact]
    public void The_same_seed_gives_the_same_split()
    {
        var first = DatasetSplitter.Split(Rows(50), 0.3, seed: 42);
        var second = DatasetSplitter.Split(Rows(50), 0.3, seed: 42);

        Assert.Equal(RowIds(first.Test), RowIds(second.Test));
        Assert.Equal(RowIds(first.Train), RowIds(second.Train));
    }

    [Fact]
    public void A_different_seed_gives_a_different_split()
    {
        var first = DatasetSplitter.Split(Rows(50), 0.3, seed: 1);
        var second = DatasetSplitter.Split(Rows(50), 0.3, seed: 2);

        Assert.NotEqual(RowIds(first.Test), RowIds(second.Test));
    }

    [Fact]
    public void The_test_rows_are_a_random_choice_not_the_tail()
    {
        var (_, test) = DatasetSplitter.Split(Rows(100), 0.2, seed: 3);

        Assert.NotEqual(Enumerable.Range(80, 20), RowIds(test));
        Assert.Equal(RowIds(test).Order(), RowIds(test));
    }

    [Fact]
    public void Each_part_gets_at_least_one_row()
    {
        var (train, test) = DatasetSplitter.Split(Rows(2), 0.01, seed: 0);

        Assert.Equal(1, train.Count);
        Assert.Equal(1, test.Count);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(1.0)]
    [InlineData(-0.5)]
    [InlineData(double.NaN)]
    public void A_fraction_outside_0_to_1_is_a_user_error(double fraction)
    {
        var error = Assert.Throws<UserErrorException>(() => DatasetSplitter.Split(Rows(10), fraction, 0));

        Assert.Contains("must be greater than 0 and less than 1", error.Message);
    }

    [Fact]
    public void One_row_cannot_be_split()
    {
        var error = Assert.Throws<UserErrorException>(() => DatasetSplitter.Split(Rows(1), 0.5, 0));

        Assert.Equal("rows: 1 row(s) are too few to split into a training and a test set", error.Message);
    }
}
