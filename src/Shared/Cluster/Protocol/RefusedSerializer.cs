using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Configuration;

namespace DistributedNN.Protocol;

/// <summary>
/// Stands in for a serializer Akka registers but this cluster never uses on the wire, under its identifier, so that a
/// payload a stranger tags with that identifier is refused (one log line, dropped) instead of deserialized:
/// Akka's Newtonsoft JSON (id 1, bound to System.Object by default: polymorphic JSON, types named by the sender),
/// the bare Protobuf serializer (id 2, types named by the sender) and remote deployment's Props (id 3). Writing
/// throws as well: a message we forgot to bind fails loudly in the tests instead of going out as JSON.
/// </summary>
public abstract class RefusedSerializer(ExtendedActorSystem system, string name) : Akka.Serialization.Serializer(system)
{
    public override bool IncludeManifest => false;

    public override byte[] ToBinary(object obj) =>
        throw new ArgumentException($"{obj.GetType()} has no serializer of this cluster (Akka's {name} serializer is disabled); bind it in DnnAkka.WithDnnSerializers");

    public override object FromBinary(byte[] bytes, Type type) =>
        throw new SerializationException($"refused a payload of {bytes.Length} bytes for the {name} serializer (id {Identifier}): this cluster does not accept it");

    /// <summary>In place of Akka's NewtonSoftJsonSerializer (id 1).</summary>
    public sealed class Json(ExtendedActorSystem system) : RefusedSerializer(system, "JSON")
    {
        /// <summary>Akka passes the replaced serializer's settings section when it has one.</summary>
        public Json(ExtendedActorSystem system, Config settings) : this(system) { }
        public override int Identifier => 1;
    }

    /// <summary>In place of Akka.Remote's ProtobufSerializer (id 2), for bare Google.Protobuf messages.</summary>
    public sealed class Protobuf(ExtendedActorSystem system) : RefusedSerializer(system, "Protobuf")
    {
        /// <summary>Akka passes the replaced serializer's settings section when it has one.</summary>
        public Protobuf(ExtendedActorSystem system, Config settings) : this(system) { }
        public override int Identifier => 2;
    }

    /// <summary>In place of Akka.Remote's DaemonMsgCreateSerializer (id 3): no node deploys actors on another.</summary>
    public sealed class RemoteDeployment(ExtendedActorSystem system) : RefusedSerializer(system, "remote deployment")
    {
        /// <summary>Akka passes the replaced serializer's settings section when it has one.</summary>
        public RemoteDeployment(ExtendedActorSystem system, Config settings) : this(system) { }
        public override int Identifier => 3;
    }
}
