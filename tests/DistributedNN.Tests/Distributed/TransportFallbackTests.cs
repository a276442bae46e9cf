using System.Text.Json;
using Akka.Actor;
using Akka.Serialization;
using DistributedNN.Hosting;
using DistributedNN.Logging;
using DistributedNN.Coordinator;
using DistributedNN.Model;
using DistributedNN.Protocol;
using DistributedNN.Tests.Cli;
using DistributedNN.Training;
using DistributedNN.Transport;
using DistributedNN.Worker;
using DistributedNN.Data;
using Microsoft.Extensions.Hosting;

namespace DistributedNN.Tests.Distributed;

public sealed class TransportFallbackTests : IAsyncLifetime
{
    private readonly List<IHost> _nodes = new();
    private readonly TempDirectory _dir = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var node in _nodes)
        {
            await node.StopAsync(CancellationToken.None);
            node.Dispose();
        }
        _dir.Dispose();
    }

    [Fact]
    [Trait(TestTiers.Category, TestTiers.Integration)]
    public async Task Every_protocol_message_round_trips_through_its_configured_serializer()
    {
        var node = await DnnAkka.StartNodeAsync(new NodeOptions { Roles = [DnnAkka.CoordinatorRole] });
        _nodes.Add(node);
        var system = (ExtendedActorSystem)node.ActorSystemOf();
        var serialization = system.Serialization;
        var someone = system.ActorOf(Props.Empty, "someone");
        var job = Guid.NewGuid();
        var network = new NetworkDescription([784, 256, 10], ["relu", "softmax"], "cross-entropy");
        object[] messages =
        [
            new RegisterWorker(someone, "127.0.0.1", 4055, 8),
            new StartJob(job, network, new DataRequest("/data/x", 0.2, "last", 1000), 128, 4, 7, true, 256, TransportKind.Tcp, WireFormat.Bf16),
            new StartJob(job, network, new DataRequest(null, 0.2, "first", null), 128, 4, 7, false, 256, TransportKind.Shm,
                SharedFiles: new SharedFiles("/dev/shm/w", "/dev/shm/g", "/dev/shm/m")),
            new WorkerReady(job, someone, "ab12", 60000, 10000),
            new WorkerRefused(job, someone, "no data"),
            new WorkerLeaving(job, someone),
            new RegistrationRejected(job, "different data"),
            new JobDone(job, "finished"),
        ];
        // every message of the protocol is here (a new one must be added above)
        var protocol = DnnAkka.WireTypes.Where(t => typeof(IDnnMessage).IsAssignableFrom(t)).Select(t => t.Name).Order();
        Assert.Equal(protocol, messages.Select(m => m.GetType().Name).Distinct().Order());
        foreach (var message in messages)
        {
            var serializer = serialization.FindSerializerFor(message);
            Assert.IsType<DnnHyperionSerializer>(serializer);
            var bytes = serializer.ToBinary(message);
            var back = serialization.Deserialize(bytes, serializer.Identifier, message.GetType());
            Assert.Equal(JsonSerializer.Serialize(message, message.GetType(), Options), JsonSerializer.Serialize(back, message.GetType(), Options));
        }

        var chunk = new TensorChunk(new TensorHeader(job, 3, 3, TensorKind.Weights, TensorHeader.NoShard, 10), 4, [1f, float.NaN, -0f]);
        var chunkSerializer = serialization.FindSerializerFor(chunk);
        Assert.IsType<TensorChunkSerializer>(chunkSerializer);
        var manifest = Akka.Serialization.Serialization.ManifestFor(chunkSerializer, chunk);
        var restored = (TensorChunk)serialization.Deserialize(chunkSerializer.ToBinary(chunk), chunkSerializer.Identifier, manifest);
        Assert.Equal(chunk.Header, restored.Header);
        Assert.Equal(chunk.Offset, restored.Offset);
        Assert.Equal(chunk.Values.Select(BitConverter.SingleToInt32Bits), restored.Values.Select(BitConverter.SingleToInt32Bits));
    }

    /// <summary>A type of ours that is not part of the protocol: it must not be creatable from the wire.</summary>
    public sealed record NotOnTheWire(string Payload) : IDnnMessage;

    [Fact]
    [Trait(TestTiers.Category, TestTiers.Integration)]
    public async Task A_payload_naming_a_type_outside_the_protocol_is_refused()
    {
        var node = await DnnAkka.StartNodeAsync(new NodeOptions { Roles = [DnnAkka.CoordinatorRole] });
        _nodes.Add(node);
        var system = (ExtendedActorSystem)node.ActorSystemOf();
        var hyperion = system.Serialization.FindSerializerFor(new JobDone(Guid.NewGuid(), "x"));
        Assert.DoesNotContain(typeof(NotOnTheWire), DnnAkka.WireTypes);
        // ours will not even send it; a node with a plain Hyperion (a crafted message) can, and ours must refuse it
        Assert.ThrowsAny<Exception>(() => hyperion.ToBinary(new NotOnTheWire("x")));
        var bytes = new Akka.Serialization.HyperionSerializer(system).ToBinary(new NotOnTheWire("rm -rf /"));
        var refused = Assert.Throws<System.Runtime.Serialization.SerializationException>(() => hyperion.FromBinary(bytes, typeof(object)));
        // refused on its first byte (a type name follows, not one of the protocol's indices): the name is never read
        Assert.NotEqual(Hyperion.ValueSerializers.ObjectSerializer.ManifestIndex, bytes[0]);
        Assert.Contains("do not start with one of the protocol's messages", refused.Message);
        // a protocol message still goes through
        var ok = hyperion.FromBinary(hyperion.ToBinary(new JobDone(Guid.Empty, "finished")), typeof(JobDone));
        Assert.Equal("finished", ((JobDone)ok).Outcome);
    }

    private static readonly JsonSerializerOptions Options = new() { Converters = { new ActorRefPath() } };

    /// <summary>Actor references compare by path in these round trips.</summary>
    private sealed class ActorRefPath : System.Text.Json.Serialization.JsonConverter<IActorRef>
    {
        public override IActorRef Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => throw new NotSupportedException();
        public override void Write(Utf8JsonWriter writer, IActorRef value, JsonSerializerOptions options) => writer.WriteStringValue(value.Path.ToString());
        public override bool CanConvert(Type typeToConvert) => typeof(IActorRef).IsAssignableFrom(typeToConvert);
    }

    [Fact]
    [Trait(TestTiers.Category, TestTiers.EndToEnd)]
    public void Both_transports_give_the_same_weights_in_process_and_across_processes()
    {
        string Hash(params string[] extra)
        {
            string metrics = _dir.File(Guid.NewGuid().ToString("N") + ".json");
            var (exit, output, err) = CliRunner.Run(["train", "--data", TestData.Csv, "--layers", "4,300,2", "--epochs", "2", "--batch", "24", "--shards", "3",
                "--metrics-out", metrics, .. extra]);
            Assert.True(exit == 0, err + output);
            using var doc = JsonDocument.Parse(File.ReadAllText(metrics));
            return doc.RootElement.GetProperty("weights_sha256").GetString()!;
        }
        string single = Hash();
        Assert.Equal(single, Hash("--workers", "2", "--transport", "akka"));
        Assert.Equal(single, Hash("--spawn-workers", "2", "--transport", "akka"));
        Assert.Equal(single, Hash("--spawn-workers", "2", "--transport", "tcp"));
    }

    [Fact]
    [Trait(TestTiers.Category, TestTiers.EndToEnd)]
    public void A_model_of_more_than_10_million_parameters_trains_across_processes()
    {
        // 4 → 2,000,000 → 2: 14,000,002 parameters, 56 MB of weights per transfer
        string metrics = _dir.File("big.json");
        string[] common = ["train", "--data", TestData.Csv, "--layers", "4,2000000,2", "--epochs", "1", "--train-limit", "16", "--batch", "8", "--shards", "2",
            "--optimizer", "sgd", "--lr", "0.01", "--metrics-out", metrics];
        var (exit, output, err) = CliRunner.Run([.. common, "--spawn-workers", "2", "--step-timeout", "120"]);
        Assert.True(exit == 0, err + output);
        string distributed;
        using (var doc = JsonDocument.Parse(File.ReadAllText(metrics)))
        {
            Assert.Equal(14_000_002, doc.RootElement.GetProperty("parameters").GetInt32());
            Assert.True(doc.RootElement.GetProperty("bytes_sent").GetInt64() >= 2L * 14_000_002 * 4);
            distributed = doc.RootElement.GetProperty("weights_sha256").GetString()!;
        }
        (exit, output, err) = CliRunner.Run(common);
        Assert.True(exit == 0, err + output);
        using (var doc = JsonDocument.Parse(File.ReadAllText(metrics)))
            Assert.Equal(doc.RootElement.GetProperty("weights_sha256").GetString(), distributed);
    }

    [Fact]
    [Trait(TestTiers.Category, TestTiers.Integration)]
    public async Task Transfers_dropped_for_their_size_are_caught_by_the_deadline_and_stop_the_job()
    {
        // Akka.Remote on the worker node allows 32,000-byte frames: every 64 KB tensor chunk is dropped (only an error log says so).
        var data = TestData.Load();
        var spec = NetworkSpec.FromSizes([4, 20000, 2], Activation.ReLU, Activation.Softmax, LossKind.CrossEntropy);
        var p = new float[spec.ParameterCount];
        Initializer.Initialize(spec, p, InitScheme.He, 1);
        var state = new TrainingState(spec, p, new TrainingSettings(1, 16, 2, 1, true, new OptimizerSettings(OptimizerKind.Sgd, 0.1f)), data.Train.Count);
        await using var nodes = new TestNodes();
        var (seed, completion) = await nodes.StartCoordinator(state, minWorkers: 1, TimeSpan.FromSeconds(1), TransportKind.Akka);
        await nodes.StartWorker(seed, maxFrameBytes: 32_000);

        var failure = await Assert.ThrowsAsync<UserErrorException>(() => completion.WaitAsync(TimeSpan.FromSeconds(60)));
        Assert.Contains("made no progress", failure.Message);
        Assert.Contains("maximum-frame-size", failure.Message);
    }
}
