using DistributedNN.Data;

namespace DistributedNN.Tests.Data;

/// <summary>
/// Loads the real Fashion-MNIST from the Debian package's location. CI installs the package, so a
/// missing directory fails the test rather than skipping it: a silently skipped test would hide a
/// broken install or a changed path.
/// </summary>
public sealed class FashionMnistTests
{
    [Fact]
    public void The_installed_fashion_mnist_loads_with_the_published_shape()
    {
        Assert.True(Directory.Exists(DataSource.DefaultDirectory),
            $"{DataSource.DefaultDirectory} does not exist; install it with: sudo apt-get install dataset-fashion-mnist");
        var options = new DataSourceOptions { GetEnvironmentVariable = _ => null };

        var data = DataSource.Load(null, options);

        Assert.Equal(DataSource.DefaultDirectory, data.Source);
        Assert.Equal(60000, data.Train.Count);
        Assert.Equal(10000, data.Test.Count);
        Assert.Equal(784, data.Train.FeatureCount);
        Assert.Equal(784, data.Test.FeatureCount);
        Assert.Equal(10, data.Train.ClassCount);
        Assert.Equal(10, data.Test.ClassCount);
        Assert.All(data.Train.Labels.Concat(data.Test.Labels).Distinct(), label => Assert.InRange(label, 0, 9));
        Assert.Equal(10, data.Train.Labels.Distinct().Count());
        var pixels = new float[data.Train.Count * data.Train.FeatureCount];
        data.Train.CopyRows(0, data.Train.Count, pixels);
        Assert.Equal(0f, pixels.Min());
        Assert.Equal(1f, pixels.Max());
        Assert.Equal(SampleElement.Byte, data.Train.Rows.Element); // a quarter of float32's memory
    }
}
