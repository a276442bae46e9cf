using Akka.Actor;
using Akka.Actor.Setup;
using Akka.Configuration;
using Akka.Hosting;
using Akka.TestKit;
using DistributedNN.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace DistributedNN.Tests;

/// <summary>
/// The configuration of a real node for a TestKit's ActorSystem: <see cref="DnnAkka.WithDnnNode"/> applied to an
/// Akka.Hosting builder (remoting on 127.0.0.1 with a free port and the 4 MB frame size, the cluster provider and
/// its settings, the serializer bindings, Serilog as the logger), turned into the ActorSystemSetup that Akka.Hosting
/// itself would start the node with. The one addition is the TestKit's own event listener beside Serilog, so that
/// EventFilter sees the log.
/// </summary>
public static class TestKitSetup
{
    public static ActorSystemSetup RealNode(NodeOptions? options = null)
    {
        var builder = new AkkaConfigurationBuilder(new ServiceCollection(), DnnAkka.SystemName).WithDnnNode(options ?? new NodeOptions());
        var config = builder.Configuration.Value;
        var loggers = config.GetStringList("akka.loggers").Append(typeof(TestEventListener).AssemblyQualifiedName!).Select(l => $"\"{l}\"");
        config = ConfigurationFactory.ParseString($"akka.loggers = [{string.Join(", ", loggers)}]").WithFallback(config);
        var bootstrap = BootstrapSetup.Create().WithConfig(config);
        if (builder.ActorRefProvider.HasValue) bootstrap = bootstrap.WithActorRefProvider(builder.ActorRefProvider.Value);
        return builder.Setups.Aggregate(ActorSystemSetup.Create(bootstrap), (setup, extra) => setup.And(extra));
    }
}
