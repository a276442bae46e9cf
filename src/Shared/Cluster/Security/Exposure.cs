using System.Net;

namespace DistributedNN.Security;

/// <summary>Whether a node can be reached from other machines: by the address it binds and the one it advertises.</summary>
public static class Exposure
{
    /// <summary>True for 127.0.0.0/8, ::1 and "localhost": addresses only this machine can reach.</summary>
    public static bool IsLoopback(string host) =>
        host.Equals("localhost", StringComparison.OrdinalIgnoreCase) || (IPAddress.TryParse(host, out var address) && IPAddress.IsLoopback(address));

    /// <summary>The first of the node's addresses that other machines may reach (0.0.0.0, a LAN address, a host name), or null.</summary>
    public static string? Exposed(string bind, string? advertised) =>
        !IsLoopback(bind) ? bind : advertised is { Length: > 0 } && !IsLoopback(advertised) ? advertised : null;
}
