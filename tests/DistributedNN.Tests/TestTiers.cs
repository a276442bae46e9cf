namespace DistributedNN.Tests;

/// <summary>
/// The three tiers of this suite, as xunit traits (<c>[Trait(TestTiers.Category, TestTiers.Integration)]</c>). A test
/// without a Category is a unit test: no OS process, no ActorSystem, no socket, only the classes under test (and
/// files). <see cref="TierGuardTests"/> holds every test to its tier.
/// </summary>
public static class TestTiers
{
    public const string Category = "Category";

    /// <summary>
    /// ActorSystems in this process (TestKit specs, in-process cluster nodes, `train --workers`/`--min-workers` runs),
    /// data-plane sockets on 127.0.0.1, and long single-process training runs (Fashion-MNIST acceptance).
    /// </summary>
    public const string Integration = "Integration";

    /// <summary>Real `dnn` and `dnn-worker` processes: started by the test or by `train --spawn-workers`.</summary>
    public const string EndToEnd = "EndToEnd";
}
