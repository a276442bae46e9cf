using System.Collections.Concurrent;
using Akka.Actor;
using Akka.Event;
using Akka.Hosting;
using DistributedNN.Hosting;
using DistributedNN.Logging;
using Microsoft.Extensions.Hosting;

namespace DistributedNN.Tests.Security;

/// <summary>Bytes a rogue node sends as they are, tagged with the control plane's serializer id (Hyperion, −5).</summary>
public sealed record RawHyperion(byte[] Bytes);

/// <summary>Bytes a rogue node sends as they are, tagged with Akka's JSON serializer id (1).</summary>
public sealed record RawJson(byte[] Bytes);

/// <summary>The rogue's side only: writes a <see cref="RawHyperion"/>'s bytes under the victim serializer's identifier.</summary>
public sealed class RawHyperionSerializer(ExtendedActorSystem system) : Akka.Serialization.Serializer(system)
{
    public override int Identifier => -5;
    public override bool IncludeManifest => false;
    public override byte[] ToBinary(object obj) => ((RawHyperion)obj).Bytes;
    public override object FromBinary(byte[] bytes, Type type) => throw new NotSupportedException("the rogue reads nothing");
}

/// <summary>The rogue's side only: writes a <see cref="RawJson"/>'s bytes under the JSON serializer's identifier.</summary>
public sealed class RawJsonSerializer(ExtendedActorSystem system) : Akka.Serialization.Serializer(system)
{
    public override int Identifier => 1;
    public override bool IncludeManifest => false;
    public override byte[] ToBinary(object obj) => ((RawJson)obj).Bytes;
    public override object FromBinary(byte[] bytes, Type type) => throw new NotSupportedException("the rogue reads nothing");
}

/// <summary>
/// A stranger on 127.0.0.1: a node built with the same helpers as every node (<see cref="DnnAkka.StartNodeAsync"/>),
/// its own one-node cluster, that never joins the victim's; on top, serializers that put crafted bytes on the wire
/// under the victim's serializer ids.
/// </summary>
internal sealed class RogueNode : IAsyncDisposable
{
    private readonly IHost _host;

    private RogueNode(IHost host) => _host = host;

    public ActorSystem System => _host.ActorSystemOf();

    public static async Task<RogueNode> StartAsync() => new(await DnnAkka.StartNodeAsync(new NodeOptions(), (builder, _) => builder.AddHocon($$"""
        akka.actor {
          serializers {
            rogue-hyperion = "{{typeof(RawHyperionSerializer).AssemblyQualifiedName}}"
            rogue-json = "{{typeof(RawJsonSerializer).AssemblyQualifiedName}}"
          }
          serialization-bindings {
            "{{typeof(RawHyperion).AssemblyQualifiedName}}" = rogue-hyperion
            "{{typeof(RawJson).AssemblyQualifiedName}}" = rogue-json
          }
        }
        """, HoconAddMode.Prepend)));

    /// <summary>
    /// Sends <paramref name="message"/> to an actor path of another node (no join, no handshake but Akka.Remote's), by a
    /// reference made from the path: untrusted mode drops selections to anything but the protocol's entry points.
    /// </summary>
    public void Send(string path, object message) => Ref(path).Tell(message);

    /// <summary>The actor at <paramref name="path"/>, through Identify over the same association: proof the victim still answers.</summary>
    public async Task<IActorRef> Identify(string path)
    {
        var identity = await Ref(path).Ask<ActorIdentity>(new Identify(path), TimeSpan.FromSeconds(30));
        return identity.Subject ?? throw new InvalidOperationException($"nothing at {path}");
    }

    private IActorRef Ref(string path) => ((ExtendedActorSystem)System).Provider.ResolveActorRef(path);

    public async ValueTask DisposeAsync()
    {
        await _host.StopAsync(CancellationToken.None);
        _host.Dispose();
    }
}

/// <summary>The warnings and errors a node logs (its event stream), to wait for and count.</summary>
internal sealed class LogWatch
{
    private readonly ConcurrentQueue<string> _lines = new();

    public LogWatch(ActorSystem system)
    {
        var listener = system.ActorOf(Props.Create(() => new Listener(_lines)));
        system.EventStream.Subscribe(listener, typeof(Warning));
        system.EventStream.Subscribe(listener, typeof(Error));
    }

    public IReadOnlyList<string> Lines(string containing) => _lines.Where(l => l.Contains(containing, StringComparison.Ordinal)).ToArray();

    /// <summary>Waits until <paramref name="count"/> lines contain <paramref name="containing"/>; the lines.</summary>
    public async Task<IReadOnlyList<string>> WaitFor(string containing, int count, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        while (Lines(containing).Count < count)
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"{Lines(containing).Count} of {count} log lines with '{containing}'; the log:\n{string.Join("\n", _lines)}");
            await Task.Delay(50);
        }
        return Lines(containing);
    }

    private sealed class Listener : ReceiveActor
    {
        public Listener(ConcurrentQueue<string> lines) =>
            // as DnnLogging prints it: the message, then the innermost exception's (Akka wraps a selection's payload error)
            Receive<LogEvent>(e => lines.Enqueue($"{e.LogLevel()}: {e.Message}{(e.Cause is null ? "" : $" ({DnnLogging.Innermost(e.Cause).Message})")}"));
    }
}
