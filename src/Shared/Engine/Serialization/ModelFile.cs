using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using DistributedNN.Data;
using DistributedNN.Model;

namespace DistributedNN.Serialization;

/// <summary>
/// The binary model file (docs/MODEL_FORMAT.md): little-endian, versioned, SHA-256 checked.
/// <code>
///   "DNNMODEL"                       8 bytes magic
///   u32 version = 1
///   u8  loss        i32 inputSize    i32 layerCount
///   per layer: i32 outputs, u8 activation
///   i32 notesLength, UTF-8 notes     (free text, e.g. how it was trained)
///   i32 parameterCount, f32 × parameterCount   (the flat vector: per layer W [out×in] row-major, then b)
///   32 bytes SHA-256 of everything before it
/// </code>
/// Version 2 holds a graph network (a model spec): after the version, i32 specLength and the spec's canonical JSON
/// (UTF-8, <see cref="ModelSpec.ToJson"/>) take the place of loss, input size and layers; the rest is as in version 1.
/// Plain stacks are still written as version 1.
/// Version 3 holds a model that knows what it does to a raw sample (<see cref="InputTransform"/>): after the version,
/// i32 specLength and the spec's canonical JSON (any network, plain stacks too), then i32 inputLength and the
/// transform's JSON; the rest is as in version 1. Models without one are written as before.
/// Written atomically: a temp file in the same folder, flushed, then renamed over the target.
/// </summary>
public static class ModelFile
{
    public static ReadOnlySpan<byte> Magic => "DNNMODEL"u8;
    public const uint Version = 1;
    public const uint GraphVersion = 2;
    public const uint InputVersion = 3;
    private const int HashLength = 32;

    public static void Save(string path, TrainedModel model)
    {
        var bytes = Encode(model);
        AtomicFile.Write(path, bytes);
    }

    public static byte[] Encode(TrainedModel model)
    {
        // floats are written as the machine holds them; every platform .NET runs on here is little-endian
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("model files are little-endian");
        model.Validate();
        var spec = model.Spec;
        var notes = Encoding.UTF8.GetBytes(model.Notes);
        using var ms = new MemoryStream();
        using (var w = new BinaryWriter(ms, Encoding.UTF8, leaveOpen: true))
        {
            w.Write(Magic);
            if (model.Input is { } input)
            {
                w.Write(InputVersion);
                WriteText(w, ModelSpec.ToJson(spec));
                WriteText(w, input.ToJson());
            }
            else if (spec.IsPlainStack)
            {
                w.Write(Version);
                w.Write((byte)spec.Loss);
                w.Write(spec.InputSize);
                w.Write(spec.Layers.Count);
                foreach (var layer in spec.Layers)
                {
                    w.Write(layer.Outputs);
                    w.Write((byte)layer.Activation);
                }
            }
            else
            {
                w.Write(GraphVersion);
                WriteText(w, ModelSpec.ToJson(spec));
            }
            w.Write(notes.Length);
            w.Write(notes);
            w.Write(model.Parameters.Length);
            w.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(model.Parameters.AsSpan()));
        }
        ms.Write(SHA256.HashData(ms.GetBuffer().AsSpan(0, (int)ms.Length)));
        return ms.ToArray();
    }

    private static void WriteText(BinaryWriter w, string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        w.Write(bytes.Length);
        w.Write(bytes);
    }

    public static TrainedModel Load(string path)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (FileNotFoundException) { throw new DataFormatException($"{path}: model file not found"); }
        catch (DirectoryNotFoundException) { throw new DataFormatException($"{path}: model file not found"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new DataFormatException($"{path}: cannot read the model file ({e.Message})"); }
        return Decode(bytes, path);
    }

    public static bool LooksLikeModelFile(ReadOnlySpan<byte> head) => head.StartsWith(Magic);

    public static TrainedModel Decode(ReadOnlySpan<byte> bytes, string name)
    {
        if (bytes.Length < Magic.Length || !bytes.StartsWith(Magic))
            throw new DataFormatException($"{name}: not a DistributedNN model file (it does not start with \"DNNMODEL\")");
        var r = new SpanReader(bytes, name);
        r.Skip(Magic.Length);
        uint version = r.UInt32();
        if (version is not (Version or GraphVersion or InputVersion))
            throw new DataFormatException($"{name}: model format version {version} is not supported (this build reads versions {Version} to {InputVersion})");
        if (bytes.Length < Magic.Length + 4 + HashLength || !SHA256.HashData(bytes[..^HashLength]).AsSpan().SequenceEqual(bytes[^HashLength..]))
            throw new DataFormatException($"{name}: the model file is truncated or corrupt (checksum mismatch)");

        // The checksum holds, so from here on a bad field is a file written by a broken writer.
        r = new SpanReader(bytes[..^HashLength], name);
        r.Skip(Magic.Length + 4);
        NetworkSpec spec;
        InputTransform? input = null;
        if (version != Version)
        {
            try { spec = ModelSpec.Parse(ReadText(ref r, name, "a model spec"), "model spec"); }
            catch (UserErrorException e) { throw new DataFormatException($"{name}: invalid architecture: {e.Message}"); }
            if (version == InputVersion)
            {
                input = InputTransform.Parse(ReadText(ref r, name, "an input transform"), name);
                input.Check(spec.InputSize, TrainedModel.ClassCount(spec), name);
            }
        }
        else spec = ReadLayers(ref r, name);
        string notes = Encoding.UTF8.GetString(r.Bytes(r.Int32()));
        int count = r.Int32();
        if (spec.ParameterCount != count || (long)count * 4 != r.Remaining)
            throw new DataFormatException($"{name}: the architecture needs {spec.ParameterCount} parameters but the file holds {r.Remaining / 4}");
        var parameters = new float[count];
        r.Bytes(count * 4).CopyTo(System.Runtime.InteropServices.MemoryMarshal.AsBytes(parameters.AsSpan()));
        return new TrainedModel(spec, parameters, notes, input);
    }

    private static string ReadText(ref SpanReader r, string name, string what)
    {
        int length = r.Int32();
        if (length <= 0 || length > r.Remaining) throw new DataFormatException($"{name}: invalid model header ({what} of {length} bytes)");
        return Encoding.UTF8.GetString(r.Bytes(length));
    }

    private static NetworkSpec ReadLayers(ref SpanReader r, string name)
    {
        byte lossByte = r.Byte();
        int inputs = r.Int32();
        int layerCount = r.Int32();
        if (layerCount <= 0 || layerCount > 100_000) throw new DataFormatException($"{name}: invalid model header ({layerCount} layers)");
        var layers = new List<LayerSpec>(layerCount);
        int prev = inputs;
        for (int l = 0; l < layerCount; l++)
        {
            int outputs = r.Int32();
            byte act = r.Byte();
            if (!Enum.IsDefined(typeof(Activation), (int)act)) throw new DataFormatException($"{name}: unknown activation code {act} in layer {l + 1}");
            layers.Add(new LayerSpec(prev, outputs, (Activation)act));
            prev = outputs;
        }
        if (!Enum.IsDefined(typeof(LossKind), (int)lossByte)) throw new DataFormatException($"{name}: unknown loss code {lossByte}");
        try { return new NetworkSpec(layers, (LossKind)lossByte); }
        catch (UserErrorException e) { throw new DataFormatException($"{name}: invalid architecture: {e.Message}"); }
    }

    private ref struct SpanReader(ReadOnlySpan<byte> data, string name)
    {
        private readonly ReadOnlySpan<byte> _data = data;
        private int _pos;
        public int Remaining => _data.Length - _pos;
        private ReadOnlySpan<byte> Take(int n)
        {
            if (n < 0 || n > Remaining) throw new DataFormatException($"{name}: truncated model file");
            var s = _data.Slice(_pos, n);
            _pos += n;
            return s;
        }
        public void Skip(int n) => Take(n);
        public byte Byte() => Take(1)[0];
        public int Int32() => BinaryPrimitives.ReadInt32LittleEndian(Take(4));
        public uint UInt32() => BinaryPrimitives.ReadUInt32LittleEndian(Take(4));
        public ReadOnlySpan<byte> Bytes(int n) => Take(n);
    }
}
