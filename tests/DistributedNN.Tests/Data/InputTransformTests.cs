using DistributedNN.Data;

namespace DistributedNN.Tests.Data;

/// <summary>A model's input transform: the training pipeline's own arithmetic on raw values, and its JSON.</summary>
public sealed class InputTransformTests
{
    private static Dataset Raw()
    {
        var rng = new DistributedNN.Numerics.Rng(4);
        const int rows = 50, features = 4;
        var x = new float[rows * features];
        for (int i = 0; i < x.Length; i++)
            x[i] = (i % features) switch
            {
                0 => (float)(1000 + 40 * rng.NextDouble()), // a large offset
                1 => (float)(1e-3 * rng.NextDouble()),      // a tiny scale
                2 => (float)(rng.NextDouble() * 2 - 1),
                _ => 7f,                                     // constant: centred only
            };
        return new Dataset("raw", x, new int[rows], features, 2);
    }

    [Fact]
    public void Standardising_raw_rows_gives_the_training_inputs_bit_for_bit()
    {
        var train = Raw();
        var normalizer = Normalizer.Fit(train);
        var transform = InputTransform.Standardising(normalizer);
        var expected = normalizer.Apply(train);
        var applied = transform.Apply(train, InputTransform.Identity);
        Assert.Equal(expected.Features, applied.Features);
        Assert.Equal(expected.Sample(7).ToArray(), transform.Apply(train.Sample(7), InputTransform.Identity));
        // the constant feature is centred, not divided by 0
        Assert.All(Enumerable.Range(0, train.Count), i => Assert.Equal(0f, applied.Sample(i)[3]));
    }

    [Fact]
    public void Pixel_scaling_is_the_readers_division_and_survives_the_readers_values()
    {
        var bytes = Enumerable.Range(0, 256).Select(b => (float)b).ToArray();
        var scaled = InputTransform.Pixels.Apply(bytes, InputTransform.Identity);
        Assert.Equal(Enumerable.Range(0, 256).Select(b => b / 255f), scaled);
        // values that already went through the pixel scaling (IDX, image files) come out unchanged
        Assert.Equal(scaled, InputTransform.Pixels.Apply(scaled, InputTransform.Pixels));
        // and a CSV model given image pixels sees the bytes themselves
        Assert.Equal(bytes, InputTransform.Identity.Apply(scaled, InputTransform.Pixels));
    }

    [Fact]
    public void The_JSON_form_reads_back_the_same_figures_and_names()
    {
        var t = InputTransform.Standardising(Normalizer.Fit(Raw())).WithClasses(["cat", "dog"]);
        var back = InputTransform.Parse(t.ToJson(), "t");
        Assert.Equal(t.Scale, back.Scale);
        Assert.Equal(t.Mean, back.Mean);
        Assert.Equal(t.StandardDeviation, back.StandardDeviation);
        Assert.Equal(["cat", "dog"], back.Classes);
        Assert.Equal(255f, InputTransform.Parse(InputTransform.Pixels.ToJson(), "p").Scale);
        Assert.Null(InputTransform.Parse(InputTransform.Pixels.ToJson(), "p").Mean);
    }

    [Theory]
    [InlineData("""{"scale": 0}""", "scale")]
    [InlineData("""{"scale": 1, "mean": [1, 2]}""", "both a mean and a standard deviation")]
    [InlineData("""{"scale": 1, "mean": [1, 2], "std": [1]}""", "2 means but 1 standard deviations")]
    [InlineData("""{"scale": 1, "mean": [1], "std": [-1]}""", "negative standard deviation")]
    [InlineData("""{"classes": ["a", ""]}""", "class names")]
    [InlineData("""[1, 2]""", "not an object")]
    [InlineData("""{"mean": "x"}""", "invalid input transform")]
    public void A_broken_transform_is_a_one_line_error_naming_the_file(string json, string expected)
    {
        var e = Assert.Throws<DataFormatException>(() => InputTransform.Parse(json, "m.dnn"));
        Assert.StartsWith("m.dnn: invalid input transform", e.Message);
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void A_transform_that_does_not_fit_the_network_is_refused()
    {
        var t = InputTransform.Standardising(Normalizer.Fit(Raw())).WithClasses(["a", "b", "c"]);
        Assert.Contains("cover 4 features but the network takes 5", Assert.Throws<DataFormatException>(() => t.Check(5, 3, "m")).Message);
        Assert.Contains("3 class names for a network of 2 classes", Assert.Throws<DataFormatException>(() => t.Check(4, 2, "m")).Message);
        t.Check(4, 3, "m");
    }
}
