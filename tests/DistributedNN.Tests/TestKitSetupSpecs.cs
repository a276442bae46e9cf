using Akka.Actor;
using Akka.Cluster;
using Akka.Event;
using DistributedNN.Hosting;
using DistributedNN.Protocol;
using DistributedNN.Transport;

namespace DistributedNN.Tests;

/// <summary>The TestKit specs' ActorSystem is configured as a real node (<see cref="TestKitSetup"/>).</summary>
[Trait(TestTiers.Category, TestTiers.Integration)]
public sealed class TestKitSetupSpecs : Akka.TestKit.Xunit2.TestKit
{
    public TestKitSetupSpecs() : base(TestKitSetup.RealNode()) { }

    [Fact]
    public void The_system_has_the_nodes_remoting_cluster_serializers_and_logger()
    {
        var system = (ExtendedActorSystem)Sys;
        Assert.IsAssignableFrom<Akka.Cluster.ClusterActorRefProvider>(system.Provider);
        Assert.Equal("127.0.0.1", system.Provider.DefaultAddress.Host);
        Assert.NotEqual(0, system.Provider.DefaultAddress.Port);
        var config = Sys.Settings.Config;
        Assert.Equal(DnnAkka.MaxFrameBytes, config.GetByteSize("akka.remote.dot-netty.tcp.maximum-frame-size"));
        Assert.Equal("off", config.GetString("akka.cluster.split-brain-resolver.down-all-when-unstable"));
        Assert.Contains(config.GetStringList("akka.loggers"), l => l.StartsWith("Akka.Logger.Serilog.SerilogLogger", StringComparison.Ordinal));
        Assert.IsType<DnnHyperionSerializer>(Sys.Serialization.FindSerializerFor(new JobDone(Guid.Empty, "x")));
        Assert.IsType<TensorChunkSerializer>(Sys.Serialization.FindSerializerFor(
            new TensorChunk(new TensorHeader(Guid.Empty, 0, 0, TensorKind.Weights, TensorHeader.NoShard, 1), 0, [1f])));
        Assert.Equal(MemberStatus.Removed, Cluster.Get(Sys).SelfMember.Status); // a node of its own, in no cluster until it joins one
    }

    [Fact]
    public void EventFilter_sees_the_log_beside_serilog()
    {
        EventFilter.Warning(contains: "seen by the filter").ExpectOne(() => Sys.Log.Warning("seen by the filter"));
    }
}
