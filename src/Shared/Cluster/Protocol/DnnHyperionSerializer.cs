using System.Collections.Concurrent;
using System.Runtime.Serialization;
using Akka.Actor;
using Hyperion;
using Hyperion.SerializerFactories;
using Hyperion.ValueSerializers;

namespace DistributedNN.Protocol;

using DistributedNN.Hosting;

/// <summary>
/// Hyperion (serializer id −5) for the control plane, closed to everything but the protocol's messages, with bounded reads.
/// Hyperion's own readers trust length fields — a string, byte[] or array length of 536,870,897 in a 300-byte payload
/// makes the receiver allocate that much before it reads a byte of it — and its primitive readers cannot be replaced.
/// So Hyperion only frames a message here: its known-type manifest (byte 254 and the message's index in
/// <see cref="WireRecordCodec.Messages"/>) and a value serializer of ours (<see cref="WireRecordCodec"/>, bounded) for
/// every message. <see cref="FromBinary"/> reads the manifest itself before Hyperion sees the payload and refuses any
/// other first byte: a type name, a top-level string, array or primitive never reaches Hyperion's readers. A refused
/// payload is a <see cref="SerializationException"/> with a one-line reason, which Akka.Remote logs once and drops
/// (the association stays up).
/// </summary>
public sealed class DnnHyperionSerializer : Akka.Serialization.Serializer
{
    private readonly Serializer _hyperion;
    private readonly WireRecordCodec _codec;

    public DnnHyperionSerializer(ExtendedActorSystem system) : base(system)
    {
        _codec = new WireRecordCodec(system);
        var messages = WireRecordCodec.Messages;
        _hyperion = new Serializer(new SerializerOptions(
            versionTolerance: false, preserveObjectReferences: false, surrogates: null,
            serializerFactories: [new MessageFactory(_codec, messages)], knownTypes: messages, ignoreISerializable: true,
            packageNameOverrides: null, disallowUnsafeTypes: true, typeFilter: new MessageFilter(messages)));
    }

    public override int Identifier => -5;
    public override bool IncludeManifest => false;

    /// <exception cref="ArgumentException"><paramref name="obj"/> is not a protocol message (nothing else may go out as Hyperion).</exception>
    public override byte[] ToBinary(object obj)
    {
        if (obj is not IDnnMessage || !WireRecordCodec.Messages.Contains(obj.GetType()))
            throw new ArgumentException($"{obj.GetType()} is not a control-plane message; only the protocol's messages are sent with Hyperion");
        using var stream = new MemoryStream();
        _hyperion.Serialize(obj, stream);
        return stream.ToArray();
    }

    /// <exception cref="SerializationException">The payload is not one of the protocol's messages, or breaks a bound.</exception>
    public override object FromBinary(byte[] bytes, Type type)
    {
        if (bytes.Length < 3 || bytes[0] != ObjectSerializer.ManifestIndex || BitConverter.ToUInt16(bytes, 1) >= WireRecordCodec.Messages.Count)
            throw WireReader.Refused($"{bytes.Length} bytes that do not start with one of the protocol's messages");
        using var stream = new MemoryStream(bytes, 0, bytes.Length, writable: false, publiclyVisible: true);
        try
        {
            return _hyperion.Deserialize(stream);
        }
        catch (Exception e) when (e is not SerializationException)
        {
            throw WireReader.Refused($"{e.GetType().Name}: {e.Message}");
        }
    }

    /// <summary>Our value serializer for every message type, ahead of Hyperion's own (factories come before its defaults).</summary>
    private sealed class MessageFactory(WireRecordCodec codec, IReadOnlyList<Type> messages) : ValueSerializerFactory
    {
        public override bool CanSerialize(Serializer serializer, Type type) => messages.Contains(type);
        public override bool CanDeserialize(Serializer serializer, Type type) => messages.Contains(type);

        public override ValueSerializer BuildSerializer(Serializer serializer, Type type, ConcurrentDictionary<Type, ValueSerializer> typeMapping) =>
            typeMapping.GetOrAdd(type, t => new MessageSerializer(codec, t, (ushort)IndexOf(t)));

        private int IndexOf(Type type)
        {
            for (int i = 0; i < messages.Count; i++)
                if (messages[i] == type) return i;
            throw new ArgumentException($"{type} is not a message");
        }
    }

    /// <summary>One message: Hyperion's known-type manifest, then the record in <see cref="WireRecordCodec"/>'s form.</summary>
    private sealed class MessageSerializer(WireRecordCodec codec, Type type, ushort index) : ValueSerializer
    {
        public override void WriteManifest(Stream stream, SerializerSession session)
        {
            stream.WriteByte(ObjectSerializer.ManifestIndex);
            stream.WriteByte((byte)index);
            stream.WriteByte((byte)(index >> 8));
        }

        public override void WriteValue(Stream stream, object value, SerializerSession session) => codec.Write(value, new WireWriter(stream));

        public override object ReadValue(Stream stream, DeserializerSession session)
        {
            // only FromBinary calls Hyperion to read, on a MemoryStream over the whole payload
            var memory = (MemoryStream)stream;
            if (!memory.TryGetBuffer(out var payload)) throw new InvalidOperationException("the payload's buffer is not visible");
            var reader = new WireReader(payload.Array!, payload.Offset + (int)memory.Position, payload.Offset + payload.Count);
            var message = codec.Read(type, reader);
            reader.End();
            memory.Position = reader.Position - payload.Offset;
            return message;
        }

        public override Type GetElementType() => type;
    }

    /// <summary>Hyperion may name no type but the messages (it never reads a name here; this holds if that changes).</summary>
    private sealed class MessageFilter(IReadOnlyList<Type> messages) : ITypeFilter
    {
        private readonly HashSet<string> _allowed = messages.Select(t => t.AssemblyQualifiedName!).ToHashSet(StringComparer.Ordinal);
        public bool IsAllowed(string typeName) => _allowed.Contains(typeName);
    }
}
