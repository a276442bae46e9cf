using DistributedNN.Security;

namespace DistributedNN.Hosting;

/// <summary>How a node takes part in the cluster: where it listens, how others reach it, whom it joins.</summary>
public sealed record NodeOptions
{
    /// <summary>Address to bind Akka.Remote and the data plane to.</summary>
    public string Host { get; init; } = "127.0.0.1";
    /// <summary>Akka.Remote port; 0 picks a free one.</summary>
    public int Port { get; init; }
    /// <summary>The name other machines use to reach this node (default: <see cref="Host"/>).</summary>
    public string? PublicHost { get; init; }
    /// <summary>Seed nodes to join, e.g. akka.tcp://dnn@coordinator:4053; none means "join myself" (the coordinator).</summary>
    public IReadOnlyList<string> SeedNodes { get; init; } = [];
    public IReadOnlyList<string> Roles { get; init; } = [];
    /// <summary>Data-plane port; 0 picks a free one.</summary>
    public int DataPort { get; init; }
    /// <summary>
    /// The host name others reach this node by: <see cref="PublicHost"/>, else the bind address, else —
    /// when bound to all interfaces (0.0.0.0, as in containers) — this machine's first non-loopback IPv4 address.
    /// </summary>
    public string AdvertisedHost()
    {
        if (!string.IsNullOrWhiteSpace(PublicHost)) return PublicHost;
        if (Host is not ("0.0.0.0" or "::" or "*")) return Host;
        var address = System.Net.NetworkInformation.NetworkInterface.GetAllNetworkInterfaces()
            .Where(n => n.OperationalStatus == System.Net.NetworkInformation.OperationalStatus.Up)
            .SelectMany(n => n.GetIPProperties().UnicastAddresses)
            .Select(a => a.Address)
            .FirstOrDefault(a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && !System.Net.IPAddress.IsLoopback(a));
        return address?.ToString() ?? "127.0.0.1";
    }

    /// <summary>Akka.Remote's maximum-frame-size (larger messages are dropped by Akka.Remote).</summary>
    public int MaxFrameBytes { get; init; } = DnnAkka.MaxFrameBytes;

    /// <summary>Mutual TLS for Akka.Remote (and, passed on by the hosts, the data plane); null: plain TCP.</summary>
    public Security.ClusterTls? Tls { get; init; }

    /// <summary>The address scheme of this node's transport: akka.ssl.tcp with TLS, akka.tcp without.</summary>
    public string Scheme => Tls is null ? "akka.tcp" : "akka.ssl.tcp";
}
