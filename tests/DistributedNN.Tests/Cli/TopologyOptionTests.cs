namespace DistributedNN.Tests.Cli;

/// <summary>`train --topology`: a one-line error, before any data is read, where the sharded topology cannot work.</summary>
[Trait(TestTiers.Category, TestTiers.Integration)] // the tier guard reads "--workers" in the data (refused before any node starts)
public sealed class TopologyOptionTests
{
    [Theory]
    [InlineData(new[] { "--topology", "ring" }, "error: --topology must be star, sharded or auto (got 'ring')")]
    [InlineData(new[] { "--topology", "sharded" }, "error: --topology sharded applies to a distributed run: give --workers, --spawn-workers or --min-workers")]
    [InlineData(new[] { "--topology", "sharded", "--workers", "2", "--transport", "shm" }, "error: --topology sharded needs --transport tcp (the workers exchange slices over it), not shm")]
    [InlineData(new[] { "--topology", "sharded", "--workers", "2", "--transport", "akka" }, "error: --topology sharded needs --transport tcp (the workers exchange slices over it), not akka")]
    [InlineData(new[] { "--topology", "sharded", "--workers", "2", "--transport", "tcp", "--gradient-format", "bf16" }, "error: --topology sharded sends fp32 gradient slices: leave --gradient-format at fp32")]
    [InlineData(new[] { "--topology", "sharded", "--workers", "2", "--transport", "tcp", "--verify-fraction", "0.1" }, "error: --verify-fraction needs every shard's gradient at the coordinator: use --topology star with it")]
    public void Where_the_sharded_topology_cannot_work_it_is_a_one_line_error(string[] args, string message)
    {
        var (exit, output, err) = CliRunner.Run(["train", .. args]);
        Assert.Equal(1, exit);
        Assert.Equal(message, err.TrimEnd());
        Assert.Equal("", output);
    }
}
