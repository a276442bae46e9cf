using Akka.Actor;
using DistributedNN.Hosting;
using DistributedNN.Model;
using DistributedNN.Tests.Distributed;
using DistributedNN.Training;

namespace DistributedNN.Tests.Security;

/// <summary>Runs alone: these tests measure the process's allocations, which other tests running beside them would add to.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class AloneCollection
{
    public const string Name = "alone: measures the process's memory";
}

/// <summary>
/// A rogue ActorSystem on 127.0.0.1 (no credentials, never a member) sends crafted payloads to a real coordinator and a
/// real worker (nodes of their own over TCP, as the executables build them): the 289-byte length bomb ten
/// times, and a payload for Akka's JSON serializer. Each is refused with one log line, the victim allocates nothing
/// for it, the association stays up, and the run finishes with the fault-free weights.
/// </summary>
[Trait(TestTiers.Category, TestTiers.Integration)]
[Collection(AloneCollection.Name)]
public sealed class RogueSerializationTests : IAsyncLifetime
{
    /// <summary>Ten bombs would allocate over 5 GB if a length were trusted; the idle victim allocates a few MB meanwhile.</summary>
    private const long MemoryBound = 100L * 1024 * 1024;
    private const string Refusal = "refused a control-plane payload";
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(120);
    private readonly TestNodes _nodes = new();
    private RogueNode _rogue = null!;

    public async Task InitializeAsync() => _rogue = await RogueNode.StartAsync();

    public async Task DisposeAsync()
    {
        await _rogue.DisposeAsync();
        await _nodes.DisposeAsync();
    }

    private static (TrainingState State, string ExpectedWeights) Run()
    {
        var data = TestData.Load();
        var spec = NetworkSpec.FromSizes([4, 16, 2], Activation.Tanh, Activation.Softmax, LossKind.CrossEntropy);
        var settings = new TrainingSettings(Epochs: 3, BatchSize: 32, Shards: 4, Seed: 2, Shuffle: true, new OptimizerSettings(OptimizerKind.Adam, 0.02f));
        var local = new float[spec.ParameterCount];
        Initializer.Initialize(spec, local, InitScheme.Xavier, 1);
        new LocalTrainer(spec, local, settings).Train(data.Train, data.Data.Test);
        var p = new float[spec.ParameterCount];
        Initializer.Initialize(spec, p, InitScheme.Xavier, 1);
        return (new TrainingState(spec, p, settings, data.Train.Count), TrainingState.HashWeights(local));
    }

    /// <summary>Sends the ten bombs to <paramref name="path"/>; asserts one refusal line each and no growth of the process.</summary>
    private async Task BombAndMeasure(ActorSystem victim, string path)
    {
        var log = new LogWatch(victim);
        long allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        long heapBefore = GC.GetTotalMemory(forceFullCollection: true);
        foreach (var bomb in CraftedPayloads.TenBombs()) _rogue.Send(path, new RawHyperion(bomb));
        var lines = await log.WaitFor(Refusal, 10);
        long allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
        long grown = GC.GetTotalMemory(forceFullCollection: true) - heapBefore;
        Assert.True(allocated < MemoryBound, $"{allocated / 1024 / 1024} MB allocated while refusing the bombs");
        Assert.True(grown < MemoryBound, $"the heap grew by {grown / 1024 / 1024} MB");
        // one line each, saying what was refused (the length, or that the payload is not ours), not a flood
        Assert.Equal(10, lines.Count);
        Assert.All(lines, l => Assert.DoesNotContain('\n', l));
        Assert.Contains(lines, l => l.Contains($"of length {CraftedPayloads.BombLength}", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("do not start with one of the protocol's messages", StringComparison.Ordinal));
        // the same association still carries an honest message: the victim answers the rogue's Identify
        Assert.Equal(path, (await _rogue.Identify(path)).Path.ToString());
    }

    [Fact]
    public async Task A_length_bomb_sent_ten_times_to_the_coordinator_is_refused_without_growth_and_the_run_finishes()
    {
        var (state, expected) = Run();
        var (seed, completion) = await _nodes.StartCoordinator(state, minWorkers: 1, TimeSpan.FromSeconds(60));
        await BombAndMeasure(_nodes.Coordinator!, $"{seed}/user/{DnnAkka.CoordinatorName}");

        await _nodes.StartWorker(seed);
        var outcome = await completion.WaitAsync(Wait);
        Assert.Equal(3, outcome.Epochs.Count);
        Assert.Equal(expected, outcome.WeightsSha256);
    }

    [Fact]
    public async Task A_length_bomb_sent_ten_times_to_a_worker_is_refused_without_growth_and_the_worker_still_trains()
    {
        var (state, expected) = Run();
        var (seed, completion) = await _nodes.StartCoordinator(state, minWorkers: 2, TimeSpan.FromSeconds(60));
        var victim = await _nodes.StartWorker(seed);
        await BombAndMeasure(victim, $"{Akka.Cluster.Cluster.Get(victim).SelfAddress}/user/worker");

        await _nodes.StartWorker(seed); // the run starts with both: the bombed worker among them
        var outcome = await completion.WaitAsync(Wait);
        Assert.Equal(2, outcome.Workers);
        Assert.Equal(expected, outcome.WeightsSha256);
    }

    [Fact]
    public async Task A_payload_for_Akkas_JSON_serializer_is_refused_with_a_log_line()
    {
        var (state, _) = Run();
        var (seed, _) = await _nodes.StartCoordinator(state, minWorkers: 1, TimeSpan.FromSeconds(60));
        var log = new LogWatch(_nodes.Coordinator!);
        string path = $"{seed}/user/{DnnAkka.CoordinatorName}";
        // polymorphic JSON naming a type to create: Newtonsoft would have made it
        _rogue.Send(path, new RawJson("{\"$type\":\"System.IO.FileInfo, System.IO.FileSystem\",\"fileName\":\"/etc/passwd\"}"u8.ToArray()));
        var lines = await log.WaitFor("for the JSON serializer (id 1): this cluster does not accept it", 1);
        Assert.Single(lines);
        Assert.Equal(path, (await _rogue.Identify(path)).Path.ToString());
    }
}
