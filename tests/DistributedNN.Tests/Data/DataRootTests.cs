using DistributedNN.Data;

namespace DistributedNN.Tests.Data;

/// <summary>Which paths a worker without --data may load: its root and what is inside it, nothing else.</summary>
public sealed class DataRootTests
{
    [Theory]
    [InlineData("/srv/data", true)]
    [InlineData("/srv/data/", true)]
    [InlineData("/srv/data/train.csv", true)]
    [InlineData("/srv/data/sub/../train.csv", true)]
    [InlineData("/srv/data/a.csv,/srv/data/b.csv", true)]
    [InlineData("/srv/data-other/train.csv", false)]
    [InlineData("/srv/data/../secret.csv", false)]
    [InlineData("/srv/data/a.csv,/etc/passwd", false)]
    [InlineData("/etc/passwd", false)]
    [InlineData("", false)]
    [InlineData("/srv/data/x\0", false)]
    public void A_path_is_within_the_root_only_when_every_file_it_names_is(string path, bool within) =>
        Assert.Equal(within, DataRoot.Within(path, "/srv/data"));

    [Fact]
    public void A_worker_with_its_own_data_loads_that_and_one_without_loads_only_its_root()
    {
        using var dir = new TempDirectory();
        var options = new DataSourceOptions { GetEnvironmentVariable = _ => null, DefaultDirectory = dir.Path };
        Assert.Equal("/mine.csv", DataRoot.PathFor("/etc/passwd", "/mine.csv", options));
        Assert.Null(DataRoot.PathFor(null, null, options));
        Assert.Equal(dir.File("x.csv"), DataRoot.PathFor(dir.File("x.csv"), null, options));
        var refused = Assert.Throws<UserErrorException>(() => DataRoot.PathFor("/etc/passwd", null, options));
        Assert.Equal("the job's data /etc/passwd is not loaded: it is outside this worker's data root (DNN_DATA, else /usr/share/datasets/fashion-mnist); " +
            "start the worker with --data to give it other data", refused.Message);
        var none = options with { DefaultDirectory = dir.File("missing") };
        Assert.Contains("this worker has no data root", Assert.Throws<UserErrorException>(() => DataRoot.PathFor(dir.File("x.csv"), null, none)).Message);
    }
}
