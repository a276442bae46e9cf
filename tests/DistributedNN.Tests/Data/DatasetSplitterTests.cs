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

    [Fact]
    public void A_validation_set_is_held_out_of_the_training_set_by_a_fixed_random_choice()
    {
        // rows ordered by class, as an image folder's training set is: the tail would be one class
        var ordered = new Dataset("ordered", Enumerable.Range(0, 90).SelectMany(i => new float[] { i, -i }).ToArray(),
            Enumerable.Range(0, 90).Select(i => i / 30).ToArray(), 2, 3);
        var (train, validation) = DatasetSplitter.HoldOut(ordered, 0.1);

        Assert.Equal(9, validation.Count); // round(0.1 · 90)
        Assert.Equal(81, train.Count);
        Assert.Equal(Enumerable.Range(0, 90), RowIds(train).Concat(RowIds(validation)).Order());
        Assert.Equal(RowIds(train).Order(), RowIds(train));           // both keep the set's order
        Assert.Equal(RowIds(validation).Order(), RowIds(validation));
        Assert.Equal(3, validation.Labels.Distinct().Count());         // not the last rows: every class is in it
        Assert.Equal("ordered", train.Name);
        for (int i = 0; i < validation.Count; i++)
            Assert.Equal((int)validation.Sample(i)[0] / 30, validation.Labels[i]);
        // a function of the data and the fraction alone: every node holds out the same rows
        Assert.Equal(RowIds(validation), RowIds(DatasetSplitter.HoldOut(ordered, 0.1).Validation));
        Assert.NotEqual(RowIds(validation), RowIds(DatasetSplitter.Split(ordered, 0.1, seed: 1).Test));
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(1.0)]
    [InlineData(double.NaN)]
    public void A_validation_fraction_outside_0_to_1_and_a_set_of_one_sample_are_user_errors(double fraction)
    {
        var error = Assert.Throws<UserErrorException>(() => DatasetSplitter.HoldOut(Rows(10), fraction));
        Assert.StartsWith("--validation-fraction must be greater than 0 and less than 1", error.Message);
        error = Assert.Throws<UserErrorException>(() => DatasetSplitter.HoldOut(Rows(1), 0.5));
        Assert.Equal("rows: 1 sample(s) are too few to hold out a validation set (--validation-fraction)", error.Message);
    }

    [Fact]
    public void A_data_request_with_a_validation_fraction_trains_on_the_rest_and_its_fingerprint_says_so()
    {
        var plain = DataCache.Load(Distributed.TestData.Request);
        var held = DataCache.Load(Distributed.TestData.Request with { ValidationFraction = 0.25 });

        Assert.Null(plain.Validation);
        Assert.Equal(120, held.Validation!.Count); // a quarter of the CSV's 480 training rows
        Assert.Equal(plain.Train.Count, held.Train.Count + held.Validation.Count);
        Assert.NotEqual(plain.Fingerprint, held.Fingerprint); // a worker without the split is refused
        Assert.Same(held, DataCache.Load(Distributed.TestData.Request with { ValidationFraction = 0.25 }));
    }
}
