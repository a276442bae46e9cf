using System.Runtime.Serialization;
using Akka.Actor;
using Akka.TestKit.Xunit2;
using DistributedNN.Data;
using DistributedNN.Model;
using DistributedNN.Protocol;
using DistributedNN.Transport;
using static DistributedNN.Tests.Security.CraftedPayloads;

namespace DistributedNN.Tests.Security;

/// <summary>
/// The control plane's serializers on a real node's configuration: what our messages look like on the wire (Hyperion's
/// known-type manifest, then our bounded fields), and what a crafted payload gets: refused, with nothing allocated.
/// </summary>
[Trait(TestTiers.Category, TestTiers.Integration)]
public sealed class ControlPlaneSerializerSpecs : TestKit
{
    private readonly Akka.Serialization.Serialization _serialization;

    public ControlPlaneSerializerSpecs() : base(TestKitSetup.RealNode()) => _serialization = ((ExtendedActorSystem)Sys).Serialization;

    private Akka.Serialization.Serializer Hyperion => _serialization.FindSerializerForType(typeof(JobDone));

    private object[] Messages()
    {
        var someone = Sys.ActorOf(Props.Empty);
        var job = Guid.NewGuid();
        var network = new NetworkDescription([784, 256, 10], ["relu", "softmax"], "cross-entropy", "{\"graph\": \"ünïcode\"}");
        return
        [
            new RegisterWorker(someone, "127.0.0.1", 4055, 8, [1, 2, 3]),
            new RegisterWorker(someone, "::1", 1, 1),
            new StartJob(job, network, new DataRequest("/data/x", 0.2, "last", 1000), 128, 4, 7, true, 256, TransportKind.Tcp, WireFormat.Bf16),
            new StartJob(job, network, new DataRequest("/data/y", 0.2, "last", null, "32x32", ValidationFraction: 0.1), 64, 2, 3, true, 256, TransportKind.Tcp),
            new StartJob(job, network with { Graph = null }, new DataRequest(null, 0.2, "first", null), 128, 4, ulong.MaxValue, false, 256,
                TransportKind.Shm, SharedFiles: new SharedFiles("/dev/shm/w", "/dev/shm/g", "/dev/shm/m")),
            new WorkerReady(job, someone, "ab12", 60000, 10000),
            new WorkerRefused(job, someone, "no data"),
            new WorkerLeaving(job, someone),
            new RegistrationRejected(job, "different data"),
            new JobDone(job, "finished"),
        ];
    }

    [Fact]
    public void Every_message_goes_out_as_Hyperions_known_type_index_then_our_fields_and_comes_back_equal()
    {
        foreach (var message in Messages())
        {
            var serializer = _serialization.FindSerializerFor(message);
            Assert.IsType<DnnHyperionSerializer>(serializer);
            Assert.Equal(-5, serializer.Identifier);
            var bytes = serializer.ToBinary(message);
            // byte 254 (Hyperion's ManifestIndex) and the message's index in the known types, little-endian
            Assert.Equal(global::Hyperion.ValueSerializers.ObjectSerializer.ManifestIndex, bytes[0]);
            Assert.Equal(WireRecordCodec.Messages.ToList().IndexOf(message.GetType()), BitConverter.ToUInt16(bytes, 1));
            var back = serializer.FromBinary(bytes, typeof(object));
            Assert.Equal(Describe(message), Describe(back));
        }
    }

    // records compare their arrays by reference: compare what they print, arrays spelled out
    private static string Describe(object o) => string.Join("|", o.GetType().GetProperties().Select(p => p.GetValue(o) switch
    {
        IActorRef a => a.Path.ToString(),
        int[] ints => string.Join(",", ints),
        byte[] bytes => Convert.ToHexString(bytes),
        NetworkDescription n => $"{string.Join(",", n.Sizes)};{string.Join(",", n.Activations)};{n.Loss};{n.Graph}",
        var v => v?.ToString() ?? "null",
    }));

    [Fact]
    public void A_length_field_larger_than_the_payload_is_refused_before_anything_is_allocated()
    {
        foreach (var bomb in TenBombs())
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            var refused = Assert.Throws<SerializationException>(() => Hyperion.FromBinary(bomb, typeof(object)));
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.True(allocated < 64 * 1024, $"{allocated} bytes allocated refusing a {bomb.Length}-byte payload: {refused.Message}");
            Assert.StartsWith("refused a control-plane payload: ", refused.Message);
            Assert.DoesNotContain('\n', refused.Message);
        }
        // what each says: the length it refused, or that the payload is not ours
        Assert.Contains($"of length {BombLength}", Refusal(RegisterWorkerWithAHugeString()));
        Assert.Contains($"an int array of length {BombLength}", Refusal(StartJobWithAHugeArray()));
        Assert.Contains($"a string array of length {BombLength}", Refusal(StartJobWithAHugeStringArray()));
        Assert.Contains($"a byte array of length {BombLength}", Refusal(RegisterWorkerWithAHugeToken()));
        foreach (var foreign in new[] { HyperionString(), HyperionByteArray(), HyperionTypeName() })
            Assert.Contains("do not start with one of the protocol's messages", Refusal(foreign));
    }

    private string Refusal(byte[] payload) => Assert.Throws<SerializationException>(() => Hyperion.FromBinary(payload, typeof(object))).Message;

    [Fact]
    public void A_payload_that_breaks_a_records_shape_is_refused()
    {
        var register = Hyperion.ToBinary(new RegisterWorker(Sys.ActorOf(Props.Empty), "h", 1, 1));
        Assert.Contains("1 bytes after the record", Refusal([.. register, 0]));
        Assert.Contains("ends", Refusal(register[..^2]));
        Assert.Contains("do not start", Refusal([]));
        Assert.Contains("do not start", Refusal([254, 0xff, 0xff]));
        // a null where the record says not-null; an enum value the protocol does not define; a bool that is neither
        Assert.Contains("RegisterWorker.DataPlaneHost is missing", Refusal(Message<RegisterWorker>(String("akka://dnn/user/w"), Int(-1), Int(1), Int(1), Int(-1))));
        Assert.Contains("JobDone.Outcome is missing", Refusal(Message<JobDone>(Zeros(16), Int(-1))));
        var job = Hyperion.ToBinary(new StartJob(Guid.Empty, new NetworkDescription([1, 2], ["relu"], "mse"), new DataRequest(null, 0.5, "last", null),
            1, 1, 1, true, 1, TransportKind.Tcp));
        // after the transport: the two formats, SharedFiles' presence byte, AugmentPad, AugmentFlip and LabelSmoothing
        int transport = job.Length - 4 - (4 + 4 + 1 + 4 + 1 + 8);
        job[transport] = 9;
        Assert.Contains("StartJob.Transport is 9, not a TransportKind", Refusal(job));
        Assert.Contains("a string that is not UTF-8", Refusal(Message<JobDone>(Zeros(16), Int(2), [0xc3, 0x28])));
    }

    [Fact]
    public void Only_the_protocols_messages_go_out_as_Hyperion_and_nothing_goes_out_as_JSON()
    {
        Assert.Throws<ArgumentException>(() => Hyperion.ToBinary("a string"));
        // anything without a binding falls to System.Object's, the JSON serializer's id: it writes nothing, reads nothing
        var json = _serialization.FindSerializerFor(new Version(1, 2));
        Assert.Equal(1, json.Identifier);
        Assert.Throws<ArgumentException>(() => json.ToBinary(new Version(1, 2)));
        foreach (int id in new[] { 1, 2, 3 })
        {
            var refused = Assert.Throws<SerializationException>(() => _serialization.Deserialize("{\"$type\":\"System.IO.FileInfo, System.IO\"}"u8.ToArray(), id, ""));
            Assert.Contains($"(id {id}): this cluster does not accept it", refused.Message);
        }
        // Akka's own serializers stay: an actor identity, a string, bytes
        foreach (object own in new object[] { new Identify(1), "text", new byte[] { 1 } })
        {
            var serializer = _serialization.FindSerializerFor(own);
            Assert.IsNotAssignableFrom<RefusedSerializer>(serializer);
            string manifest = Akka.Serialization.Serialization.ManifestFor(serializer, own);
            Assert.NotNull(_serialization.Deserialize(serializer.ToBinary(own), serializer.Identifier, manifest));
        }
    }
}
