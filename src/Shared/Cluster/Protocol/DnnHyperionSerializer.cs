using Akka.Actor;
using Akka.Serialization;

namespace DistributedNN.Protocol;

using DistributedNN.Hosting;

/// <summary>
/// Hyperion for the control plane, restricted to the protocol's own types. Hyperion is polymorphic — a
/// payload names the types to create — so on an open network a crafted message could name any type
/// (the Akka.NET docs warn about it); with this filter, and unsafe types refused, anything outside
/// <see cref="DnnAkka.WireTypes"/> fails to deserialize and the message is dropped with an error log.
/// </summary>
public sealed class DnnHyperionSerializer(ExtendedActorSystem system)
    : HyperionSerializer(system, Restricted(HyperionSerializerSettings.Default))
{
    private static HyperionSerializerSettings Restricted(HyperionSerializerSettings settings)
    {
        return new HyperionSerializerSettings(settings.PreserveObjectReferences, settings.VersionTolerance, settings.KnownTypesProvider,
            settings.PackageNameOverrides, settings.Surrogates, disallowUnsafeType: true, new WireTypeFilter());
    }

    /// <summary>Allows a type named in a payload only if it is one of <see cref="DnnAkka.WireTypes"/>.</summary>
    private sealed class WireTypeFilter : Hyperion.ITypeFilter
    {
        private static readonly HashSet<string> Allowed = DnnAkka.WireTypes.Select(t => t.FullName!)
            .Append("Akka.Actor.ActorRefBase+Surrogate") // how Akka sends an IActorRef field (RegisterWorker.Worker, …)
            .ToHashSet(StringComparer.Ordinal);

        // Hyperion hands over an assembly-qualified name; the part before the first comma is the type
        public bool IsAllowed(string typeName)
        {
            int comma = typeName.IndexOf(',');
            return Allowed.Contains(comma < 0 ? typeName.Trim() : typeName[..comma].Trim());
        }
    }
}
