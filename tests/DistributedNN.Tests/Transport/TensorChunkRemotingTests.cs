using Akka.Actor;
using DistributedNN.Transport;
using static DistributedNN.Tests.Transport.TransportTestKit;

namespace DistributedNN.Tests.Transport;

/// <summary>The fallback transport for real: chunks cross Akka.Remote between two actor systems on 127.0.0.1.</summary>
[Trait(TestTiers.Category, TestTiers.Integration)]
public sealed class TensorChunkRemotingTests : Akka.TestKit.Xunit2.TestKit
{
    // both nodes with the real configuration: DnnAkka's serializer bindings and frame size
    private readonly ActorSystem _other = ActorSystem.Create("tensor-receiver", TestKitSetup.RealNode());

    public TensorChunkRemotingTests() : base(TestKitSetup.RealNode()) { }

    protected override void AfterAll()
    {
        _other.Terminate().Wait(WaitLimit);
        base.AfterAll();
    }

    [Fact]
    public void Default_size_chunks_cross_akka_remote_and_reassemble_bit_for_bit()
    {
        const int count = 300_001;
        var values = Pattern(count, seed: 21);
        var header = Header(TensorKind.ShardGradient, count, step: 5, version: 4, shard: 1);
        var probe = CreateTestProbe(_other);
        var address = ((ExtendedActorSystem)_other).Provider.DefaultAddress;
        // a reference, not a selection: untrusted mode lets selections from another node reach only the protocol's entry points
        var target = ((ExtendedActorSystem)Sys).Provider.ResolveActorRef(probe.Ref.Path.ToStringWithAddress(address));

        var chunks = TensorChunker.Split(header, values).ToList();
        foreach (var chunk in chunks) target.Tell(chunk);

        var destination = new float[count];
        var assembler = new TensorAssembler(header, destination);
        for (int i = 0; i < chunks.Count; i++)
        {
            var received = probe.ExpectMsg<TensorChunk>(WaitLimit);
            Assert.True(assembler.TryAdd(received, out var rejection), rejection);
        }
        Assert.True(assembler.IsComplete);
        AssertBitsEqual(values, destination);
    }
}
