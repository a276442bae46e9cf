using System.Reflection;
using Akka.Actor;
using DistributedNN.Hosting;

namespace DistributedNN.Protocol;

/// <summary>
/// The bytes of the control plane's records (<see cref="DnnAkka.WireTypes"/>): each record is its primary constructor's
/// parameters in order, each in a fixed form — integers, doubles, Guids little-endian; an enum as its int (a value it does
/// not define is refused); strings (UTF-8), byte and int arrays with a length (−1: null); string arrays as a count and
/// strings; an actor reference as its serialized path, resolved through the node's provider (as Akka's own surrogate
/// does); a nested record or a nullable value behind a presence byte. A null where the record's type says not-null is
/// refused, so a received record is as well-formed as one made in code. Lengths are read by <see cref="WireReader"/>
/// against the bytes left and the caps of <see cref="ProtocolLimits"/>. Which record it is comes from the caller
/// (<see cref="DnnHyperionSerializer"/>'s manifest).
/// </summary>
public sealed class WireRecordCodec
{
    /// <summary>The records that are messages, in the one order both ends index them by (their full names).</summary>
    public static IReadOnlyList<Type> Messages { get; } = DnnAkka.WireTypes.Where(t => typeof(IDnnMessage).IsAssignableFrom(t)).ToArray();

    private readonly ExtendedActorSystem _system;
    private readonly Dictionary<Type, Record> _records = new();
    private readonly NullabilityInfoContext _nullability = new();

    /// <exception cref="NotSupportedException">A wire record holds a type that has no wire form here (a programming error).</exception>
    public WireRecordCodec(ExtendedActorSystem system)
    {
        _system = system;
        foreach (var type in DnnAkka.WireTypes.Where(t => t.IsClass)) RecordOf(type);
    }

    public void Write(object record, WireWriter writer)
    {
        if (!_records.TryGetValue(record.GetType(), out var plan)) throw new ArgumentException($"{record.GetType()} is not a control-plane record");
        plan.Write(writer, record);
    }

    /// <exception cref="System.Runtime.Serialization.SerializationException">The bytes are not a <paramref name="type"/>.</exception>
    public object Read(Type type, WireReader reader) => _records[type].Read(reader);

    /// <summary>How one field is written and read.</summary>
    private sealed record Field(string Name, Action<WireWriter, object?> Write, Func<WireReader, object?> Read);

    private sealed class Record(Type type, ConstructorInfo constructor, PropertyInfo[] properties)
    {
        public Field[] Fields { get; set; } = [];

        public void Write(WireWriter writer, object record)
        {
            for (int i = 0; i < Fields.Length; i++) Fields[i].Write(writer, properties[i].GetValue(record));
        }

        public object Read(WireReader reader)
        {
            var values = new object?[Fields.Length];
            for (int i = 0; i < values.Length; i++) values[i] = Fields[i].Read(reader);
            return constructor.Invoke(values) ?? throw new InvalidOperationException($"no {type.Name}");
        }
    }

    private Record RecordOf(Type type)
    {
        if (_records.TryGetValue(type, out var known)) return known;
        var constructor = type.GetConstructors()
            .Where(c => c.GetParameters() is not [var only] || only.ParameterType != type) // not a record's copy constructor
            .MaxBy(c => c.GetParameters().Length) ?? throw new NotSupportedException($"{type} has no public constructor");
        var parameters = constructor.GetParameters();
        var properties = parameters.Select(p => type.GetProperty(p.Name!, BindingFlags.Public | BindingFlags.Instance)
            ?? throw new NotSupportedException($"{type}: constructor parameter {p.Name} is not a property")).ToArray();
        var record = new Record(type, constructor, properties);
        _records[type] = record; // before its fields: a record that held itself would end here, not loop
        record.Fields = parameters.Select(p => FieldOf($"{type.Name}.{p.Name}", p.ParameterType, _nullability.Create(p))).ToArray();
        return record;
    }

    private Field FieldOf(string name, Type type, NullabilityInfo nullability)
    {
        if (Nullable.GetUnderlyingType(type) is { } inner)
        {
            var value = FieldOf(name, inner, nullability);
            return new Field(name, (w, v) => { w.Bool(v is not null); if (v is not null) value.Write(w, v); },
                r => r.Present() ? value.Read(r) : null);
        }
        if (type.IsValueType) return ValueField(name, type);
        bool optional = nullability.ReadState == NullabilityState.Nullable;
        var (write, read) = ReferenceField(name, type, nullability);
        return new Field(name,
            (w, v) => write(w, v ?? (optional ? null : throw new ArgumentNullException(name, $"{name} is not optional"))),
            r => read(r) ?? (optional ? null : throw WireReader.Refused($"{name} is missing")));
    }

    private static Field ValueField(string name, Type type)
    {
        if (type.IsEnum)
        {
            if (Enum.GetUnderlyingType(type) != typeof(int)) throw new NotSupportedException($"{name}: {type} is not an int enum");
            return new Field(name, (w, v) => w.Int((int)v!), r => r.Int() is var i && Enum.IsDefined(type, i)
                ? Enum.ToObject(type, i) : throw WireReader.Refused($"{name} is {i}, not a {type.Name}"));
        }
        return type == typeof(bool) ? new Field(name, (w, v) => w.Bool((bool)v!), r => r.Bool())
            : type == typeof(int) ? new Field(name, (w, v) => w.Int((int)v!), r => r.Int())
            : type == typeof(long) ? new Field(name, (w, v) => w.Long((long)v!), r => r.Long())
            : type == typeof(ulong) ? new Field(name, (w, v) => w.ULong((ulong)v!), r => r.ULong())
            : type == typeof(double) ? new Field(name, (w, v) => w.Double((double)v!), r => r.Double())
            : type == typeof(Guid) ? new Field(name, (w, v) => w.Guid((Guid)v!), r => r.Guid())
            : throw new NotSupportedException($"{name}: {type} has no wire form");
    }

    private (Action<WireWriter, object?> Write, Func<WireReader, object?> Read) ReferenceField(string name, Type type, NullabilityInfo nullability)
    {
        if (type == typeof(string)) return ((w, v) => w.String((string?)v), r => r.String(ProtocolLimits.MaxWireStringBytes));
        if (type == typeof(byte[])) return ((w, v) => w.Bytes((byte[]?)v), r => r.Bytes(ProtocolLimits.MaxWireBytes));
        if (type == typeof(int[])) return ((w, v) => w.Ints((int[]?)v), r => r.Ints(ProtocolLimits.MaxWireArrayLength));
        if (type == typeof(string[])) return StringsField(name, nullability.ElementType!);
        if (type == typeof(IActorRef))
            return ((w, v) => w.String(v is IActorRef actor ? Akka.Serialization.Serialization.SerializedActorPath(actor) : null),
                r => r.String(ProtocolLimits.MaxActorPathBytes) is { } path ? _system.Provider.ResolveActorRef(path) : null);
        if (DnnAkka.WireTypes.Contains(type) && type.IsClass)
        {
            var record = RecordOf(type);
            return ((w, v) => { w.Bool(v is not null); if (v is not null) record.Write(w, v); }, r => r.Present() ? record.Read(r) : null);
        }
        throw new NotSupportedException($"{name}: {type} has no wire form");
    }

    private static (Action<WireWriter, object?> Write, Func<WireReader, object?> Read) StringsField(string name, NullabilityInfo element)
    {
        bool optional = element.ReadState == NullabilityState.Nullable;
        return ((w, v) =>
        {
            var strings = (string[]?)v;
            w.Int(strings?.Length ?? -1);
            foreach (var s in strings ?? []) w.String(s ?? (optional ? null : throw new ArgumentNullException(name, $"an element of {name} is null")));
        }, r =>
        {
            int count = r.Length(ProtocolLimits.MaxWireArrayLength, 4, "a string array"); // each element has at least its length
            if (count < 0) return null;
            var strings = new string?[count];
            for (int i = 0; i < count; i++)
                strings[i] = r.String(ProtocolLimits.MaxWireStringBytes) ?? (optional ? null : throw WireReader.Refused($"an element of {name} is missing"));
            return strings;
        });
    }
}
