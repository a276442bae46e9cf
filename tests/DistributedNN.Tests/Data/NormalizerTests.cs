using DistributedNN.Data;

namespace DistributedNN.Tests.Data;

public sealed class NormalizerTests
{
    private static Dataset Make(float[] features, int featureCount) =>
        new("d", features, new int[features.Length / featureCount], featureCount, 2);

    [Fact]
    public void Statistics_come_from_the_training_set_and_are_applied_to_the_test_set()
    {
        // Column 0: 1, 3, 5 → mean 3, population std sqrt(8/3). Column 1: 10, 10, 40 → mean 20, std sqrt(200).
        var train = Make([1, 10, 3, 10, 5, 40], 2);
        var test = Make([7, 0, -1, 100], 2);

        var normalizer = Normalizer.Fit(train);
        var result = normalizer.Apply(test);

        Assert.Equal(3.0, normalizer.Mean[0], 12);
        Assert.Equal(20.0, normalizer.Mean[1], 12);
        Assert.Equal(System.Math.Sqrt(8.0 / 3), normalizer.StandardDeviation[0], 12);
        Assert.Equal(System.Math.Sqrt(200.0), normalizer.StandardDeviation[1], 12);
        float[] expected =
        [
            (float)((7 - 3) / System.Math.Sqrt(8.0 / 3)), (float)((0 - 20) / System.Math.Sqrt(200.0)),
            (float)((-1 - 3) / System.Math.Sqrt(8.0 / 3)), (float)((100 - 20) / System.Math.Sqrt(200.0)),
        ];
        Assert.Equal(expected.Length, result.Features.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.Equal(expected[i], result.Features[i], 5);
    }

    [Fact]
    public void The_standardised_training_set_has_mean_0_and_std_1()
    {
        var train = Make([1, 2, 3, 4, 5, 6, 7, 9], 2);

        var result = Normalizer.Fit(train).Apply(train);

        var again = Normalizer.Fit(result);
        Assert.All(again.Mean, m => Assert.Equal(0.0, m, 6));
        Assert.All(again.StandardDeviation, s => Assert.Equal(1.0, s, 6));
    }

    [Fact]
    public void A_constant_column_is_centred_without_dividing_by_zero()
    {
        var train = Make([5, 1, 5, 2], 2);
        var test = Make([6, 3], 2);

        var normalizer = Normalizer.Fit(train);
        var result = normalizer.Apply(test);

        Assert.Equal(0.0, normalizer.StandardDeviation[0]);
        Assert.Equal(1f, result.Features[0]);
        Assert.True(float.IsFinite(result.Features[1]));
    }

    [Fact]
    public void Applying_leaves_the_input_untouched_and_keeps_labels()
    {
        var train = new Dataset("t", [1, 2, 3, 4], [1, 0], 2, 2);

        var result = Normalizer.Fit(train).Apply(train);

        Assert.Equal([1f, 2f, 3f, 4f], train.Features);
        Assert.Equal([1, 0], result.Labels);
        Assert.Equal("t", result.Name);
    }
}
