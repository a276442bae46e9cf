using Akka.Actor;
using Akka.Event;
using Akka.Cluster.Hosting;
using Akka.Hosting;
using Akka.Logger.Serilog;
using Akka.Remote.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Serilog;

using DistributedNN.Logging;

namespace DistributedNN.Hosting;

/// <summary>
/// The Akka configuration of every node, in one place, used by both executables and by the tests:
/// remoting, clustering with roles, Hyperion for the control messages, the tensor-chunk serializer for
/// the Akka.Remote fallback transport, and Serilog as Akka's logger.
/// </summary>
public static class DnnAkka
{
    public const string SystemName = "dnn";
    public const string CoordinatorRole = "coordinator";
    public const string WorkerRole = "worker";
    public const string CoordinatorName = "coordinator";
    /// <summary>Akka.Remote frame limit: well above the fallback transport's 64 KB tensor chunks.</summary>
    public const int MaxFrameBytes = 4 * 1024 * 1024;

    public static AkkaConfigurationBuilder WithDnnNode(this AkkaConfigurationBuilder builder, NodeOptions options) => builder
        .WithRemoting(new RemoteOptions
        {
            HostName = options.Host,
            Port = options.Port,
            PublicHostName = options.AdvertisedHost(),
            MaxFrameSize = options.MaxFrameBytes,
            SendBufferSize = 2 * System.Math.Max(options.MaxFrameBytes, 256 * 1024),
            ReceiveBufferSize = 2 * System.Math.Max(options.MaxFrameBytes, 256 * 1024),
            EnableSsl = options.Tls is not null,
            Ssl = options.Tls is { } tls ? new SslOptions
            {
                X509Certificate = tls.Certificate,
                SuppressValidation = false,
                // both ends present the cluster's certificate; a peer must chain to a trusted one (host names are not
                // checked: membership is proven by the certificate)
                RequireMutualAuthentication = true,
                ValidateCertificateHostname = false,
                CustomValidator = (certificate, _, peer, _, log) =>
                {
                    if (tls.IsTrusted(certificate, out string reason)) return true;
                    log.Warning("Refused a TLS connection with {0}: {1}", peer, reason);
                    return false;
                },
            } : null!, // no TLS: Akka.Remote.Hosting leaves the ssl section out
        })
        .WithClustering(new ClusterOptions
        {
            Roles = options.Roles.ToArray(),
            SeedNodes = options.SeedNodes.ToArray(),
            // The coordinator is the oldest member (it forms the cluster): keep its side of any split and
            // down unreachable workers, so a dead machine is removed and the cluster does not wedge. Not
            // "down if alone": a coordinator whose workers all died must stay up and wait for new ones.
            SplitBrainResolver = new Akka.Cluster.Hosting.SBR.KeepOldestOption { DownIfAlone = false },
        })
        .AddHocon("""
            akka.cluster.split-brain-resolver.stable-after = 7s
            # a frozen worker flapping must not make the resolver down everyone, coordinator included
            akka.cluster.split-brain-resolver.down-all-when-unstable = off
            akka.cluster.down-removal-margin = 2s
            akka.scheduler.tick-duration = 50ms
            """, HoconAddMode.Prepend)
        .AddHocon(UntrustedMode, HoconAddMode.Prepend)
        .WithDnnSerializers()
        .WithDnnLogging();

    /// <summary>
    /// Akka.Remote's untrusted mode: a remote node cannot send system messages that stop or supervise our actors, nor a
    /// PoisonPill or any other harmful message by path, nor deploy actors here; an actor selection from another node
    /// reaches only the protocol's entry points: the coordinator (where workers register) and the two cluster actors
    /// that joining and failure detection talk to by path.
    /// </summary>
    public const string UntrustedMode = $$"""
        akka.remote.untrusted-mode = on
        akka.remote.trusted-selection-paths = ["/user/{{CoordinatorName}}", "/system/cluster/core/daemon", "/system/cluster/heartbeatReceiver"]
        """;

    /// <summary>
    /// A seed node's address in the scheme of this node's transport (akka.ssl.tcp with TLS, akka.tcp without),
    /// from either form or from a bare host:port.
    /// </summary>
    /// <exception cref="UserErrorException">Not an Akka address of the dnn system.</exception>
    public static string SeedAddress(string seed, bool tls)
    {
        string rest = seed.StartsWith("akka.ssl.tcp://", StringComparison.Ordinal) ? seed["akka.ssl.tcp://".Length..]
            : seed.StartsWith("akka.tcp://", StringComparison.Ordinal) ? seed["akka.tcp://".Length..]
            : seed.Contains("://", StringComparison.Ordinal) ? throw new UserErrorException($"seed node '{seed}' is not an Akka address like akka.tcp://dnn@host:4053")
            : $"{SystemName}@{seed}";
        int at = rest.IndexOf('@');
        int colon = rest.LastIndexOf(':');
        if (at <= 0 || colon < at + 2 || !int.TryParse(rest[(colon + 1)..].TrimEnd('/'), out int port) || port is < 1 or > 65535)
            throw new UserErrorException($"seed node '{seed}' is not an Akka address like akka.tcp://dnn@host:4053");
        return (tls ? "akka.ssl.tcp://" : "akka.tcp://") + rest.TrimEnd('/');
    }

    /// <summary>
    /// The only types the control plane's Hyperion may create from the wire: the protocol's records (every
    /// <see cref="Protocol.IDnnMessage"/>) and the types of ours their properties hold (records, enums), found by reflection.
    /// </summary>
    public static IReadOnlyList<Type> WireTypes { get; } = ProtocolTypes();

    private static Type[] ProtocolTypes()
    {
        var found = new HashSet<Type>();
        var pending = new Stack<Type>(typeof(Protocol.IDnnMessage).Assembly.GetTypes()
            .Where(t => typeof(Protocol.IDnnMessage).IsAssignableFrom(t) && t.IsClass && t.IsSealed && t.IsPublic));
        while (pending.TryPop(out var type))
        {
            if (!found.Add(type)) continue;
            foreach (var property in type.GetProperties(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance))
            {
                var held = property.PropertyType.IsArray ? property.PropertyType.GetElementType()! : property.PropertyType;
                held = Nullable.GetUnderlyingType(held) ?? held;
                if (held.Namespace?.StartsWith("DistributedNN", StringComparison.Ordinal) == true) pending.Push(held);
            }
        }
        return found.OrderBy(t => t.FullName, StringComparer.Ordinal).ToArray();
    }

    /// <summary>
    /// The control messages through the bounded Hyperion (<see cref="Protocol.DnnHyperionSerializer"/>), tensor chunks
    /// through theirs; Akka's JSON (bound to System.Object by default), bare Protobuf and remote-deployment serializers
    /// replaced by ones that refuse every payload (<see cref="Protocol.RefusedSerializer"/>): nothing else a stranger can
    /// name by serializer id gets deserialized. Akka's own (cluster, remote, system messages, primitives, bytes) stay.
    /// </summary>
    public static AkkaConfigurationBuilder WithDnnSerializers(this AkkaConfigurationBuilder builder) => builder.AddHocon("""
        akka.actor {
          serializers {
            hyperion = "DistributedNN.Protocol.DnnHyperionSerializer, DistributedNN.Cluster"
            dnn-tensor = "DistributedNN.Transport.TensorChunkSerializer, DistributedNN.Cluster"
            json = "DistributedNN.Protocol.RefusedSerializer+Json, DistributedNN.Cluster"
            proto = "DistributedNN.Protocol.RefusedSerializer+Protobuf, DistributedNN.Cluster"
            daemon-create = "DistributedNN.Protocol.RefusedSerializer+RemoteDeployment, DistributedNN.Cluster"
          }
          serialization-bindings {
            "DistributedNN.Protocol.IDnnMessage, DistributedNN.Cluster" = hyperion
            "DistributedNN.Transport.TensorChunk, DistributedNN.Cluster" = dnn-tensor
          }
        }
        """, HoconAddMode.Prepend);

    public static AkkaConfigurationBuilder WithDnnLogging(this AkkaConfigurationBuilder builder) => builder
        .ConfigureLoggers(loggers =>
        {
            loggers.ClearLoggers();
            loggers.AddLogger<SerilogLogger>();
        })
        .AddHocon($"akka.loglevel = {DnnLogging.AkkaLevel}", HoconAddMode.Prepend)
        .AddHocon("""
            akka.stdout-loglevel = OFF
            akka.remote.log-remote-lifecycle-events = off
            akka.log-dead-letters-during-shutdown = off
            akka.log-dead-letters = 0
            akka.cluster.log-info = off
            """, HoconAddMode.Prepend);

    /// <summary>Starts a node: an ActorSystem on a generic host, plus whatever <paramref name="configure"/> adds.</summary>
    public static async Task<IHost> StartNodeAsync(NodeOptions options, Action<AkkaConfigurationBuilder, IServiceProvider>? configure = null, CancellationToken ct = default)
    {
        var host = new HostBuilder()
            .UseSerilog() // Microsoft.Extensions.Logging (Akka.Hosting's own messages) into Serilog too
            .ConfigureServices(services => services.AddAkka(SystemName, (builder, provider) =>
            {
                builder.WithDnnNode(options);
                configure?.Invoke(builder, provider);
            }))
            .Build();
        // Akka.Hosting also prints a failed start, stack trace and all, straight to stdout: hold stdout
        // back while starting, pass it on if the start succeeds, drop it if it fails (we say why, in one line)
        var stdout = Console.Out;
        var held = new StringWriter();
        Console.SetOut(held);
        try
        {
            await host.StartAsync(ct);
            Console.SetOut(stdout);
            stdout.Write(held.ToString());
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            Console.SetOut(stdout);
            // a busy port, an address this machine does not have, a bad seed address: the user's to fix
            try { host.Dispose(); } catch (Exception) { /* already failing */ }
            throw new UserErrorException($"cannot start the cluster node on {options.Host}:{options.Port}: {DnnLogging.Innermost(e).Message}", e);
        }
        finally
        {
            if (ReferenceEquals(Console.Out, held)) Console.SetOut(stdout);
        }
        var system = host.Services.GetRequiredService<ActorSystem>();
        if (options.SeedNodes.Count == 0)
        {
            var cluster = Akka.Cluster.Cluster.Get(system);
            cluster.Join(cluster.SelfAddress);
        }
        return host;
    }

    public static ActorSystem ActorSystemOf(this IHost host) => host.Services.GetRequiredService<ActorSystem>();
}
