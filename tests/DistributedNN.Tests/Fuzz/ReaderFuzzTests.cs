using System.IO.Compression;
using System.Net;
using System.Net.Sockets;
using System.Runtime.Serialization;
using Akka.Actor;
using DistributedNN.Data;
using DistributedNN.Model;
using DistributedNN.Serialization;
using DistributedNN.Training;
using DistributedNN.Transport;

namespace DistributedNN.Tests.Fuzz;

/// <summary>
/// Truncated, bit-flipped, random and oversized bytes fed to every reader: each must answer with its own
/// clear error type — never another exception, a hang, or an allocation the input did not justify.
/// </summary>
public sealed class ReaderFuzzTests : IDisposable
{
    private const int Cases = 150;
    private readonly TempDirectory _dir = new();
    private readonly Random _rng = new(20261127);
    public void Dispose() => _dir.Dispose();

    /// <summary>Variants of a valid input: cut short, bytes flipped, random tails, pure noise.</summary>
    private IEnumerable<byte[]> Mutations(byte[] valid)
    {
        for (int i = 0; i < Cases; i++)
        {
            byte[] b;
            switch (i % 4)
            {
                case 0: b = valid[.._rng.Next(valid.Length)]; break;
                case 1:
                    b = (byte[])valid.Clone();
                    for (int k = 0; k < 1 + _rng.Next(8); k++) b[_rng.Next(b.Length)] ^= (byte)(1 << _rng.Next(8));
                    break;
                case 2:
                    b = valid[.._rng.Next(Math.Min(64, valid.Length))].Concat(Enumerable.Range(0, _rng.Next(512)).Select(_ => (byte)_rng.Next(256))).ToArray();
                    break;
                default: b = Enumerable.Range(0, _rng.Next(2048)).Select(_ => (byte)_rng.Next(256)).ToArray(); break;
            }
            yield return b;
        }
    }

    /// <summary>Runs <paramref name="read"/>; only <typeparamref name="TExpected"/> (or success) is allowed, and a bounded allocation.</summary>
    private static void Survives<TExpected>(Action read, long maxAllocatedBytes = 32 << 20) where TExpected : Exception
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        try { read(); }
        catch (TExpected e) { Assert.False(string.IsNullOrWhiteSpace(e.Message)); Assert.DoesNotContain('\n', e.Message); }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated < maxAllocatedBytes, $"allocated {allocated} bytes");
    }

    private static byte[] Idx(byte type, int[] dims, byte[] data)
    {
        var b = new List<byte> { 0, 0, type, (byte)dims.Length };
        foreach (int d in dims) b.AddRange(BitConverter.GetBytes(d).Reverse());
        b.AddRange(data);
        return b.ToArray();
    }

    [Fact]
    public void Idx_files_raw_and_gzip()
    {
        var images = Idx(8, [3, 4, 4], Enumerable.Range(0, 48).Select(i => (byte)i).ToArray());
        var labels = Idx(8, [3], [1, 2, 3]);
        string path = _dir.File("f");
        foreach (var valid in new[] { images, labels })
            foreach (var bytes in Mutations(valid))
            {
                File.WriteAllBytes(path, bytes);
                Survives<DataFormatException>(() => IdxReader.ReadImages(path));
                Survives<DataFormatException>(() => IdxReader.ReadLabels(path));
                using (var gz = new GZipStream(File.Create(path), CompressionLevel.Fastest)) gz.Write(bytes);
                Survives<DataFormatException>(() => IdxReader.ReadImages(path));
            }
        // a header that promises 2³¹ images of 2³¹ pixels must not be believed
        File.WriteAllBytes(path, Idx(8, [int.MaxValue, 65536, 65536], [1, 2, 3]));
        Survives<DataFormatException>(() => IdxReader.ReadImages(path));
    }

    [Fact]
    public void Csv_files()
    {
        var valid = System.Text.Encoding.UTF8.GetBytes("a,b,label\n0.5,1.5,0\n2,3,1\n-1,4e2,1\n");
        string path = _dir.File("f.csv");
        foreach (var bytes in Mutations(valid))
        {
            File.WriteAllBytes(path, bytes);
            Survives<DataFormatException>(() => CsvReader.Read(path));
        }
    }

    private static TrainedModel Model()
    {
        var spec = NetworkSpec.FromSizes([6, 5, 3], Activation.ReLU, Activation.Softmax, LossKind.CrossEntropy);
        var p = new float[spec.ParameterCount];
        Initializer.Initialize(spec, p, InitScheme.He, 1);
        return new TrainedModel(spec, p, "fuzz");
    }

    [Fact]
    public void Model_files_json_exports_and_checkpoints()
    {
        var model = ModelFile.Encode(Model());
        foreach (var bytes in Mutations(model))
            Survives<DataFormatException>(() => ModelFile.Decode(bytes, "m"));

        var json = new MemoryStream();
        ModelJson.Write(json, Model());
        foreach (var bytes in Mutations(json.ToArray()))
            Survives<DataFormatException>(() => ModelJson.Parse(bytes, "j"));

        var m = Model();
        var state = new TrainingState(m.Spec, m.Parameters, new TrainingSettings(2, 4, 2, 1, true, new OptimizerSettings(OptimizerKind.Adam, 0.01f)), 10);
        var checkpoint = CheckpointFile.Encode(CheckpointFile.Capture(state, "fp", []));
        foreach (var bytes in Mutations(checkpoint))
            Survives<DataFormatException>(() => CheckpointFile.Decode(bytes, "c"));
    }

    [Fact]
    [Trait(TestTiers.Category, TestTiers.Integration)]
    public void Tensor_chunks_through_their_serializer()
    {
        using var system = ActorSystem.Create("fuzz");
        var serializer = new TensorChunkSerializer((ExtendedActorSystem)system);
        var chunk = new TensorChunk(new TensorHeader(Guid.NewGuid(), 3, 3, TensorKind.ShardGradient, 1, 1000), 200, Enumerable.Range(0, 300).Select(i => i * 0.5f).ToArray());
        var valid = serializer.ToBinary(chunk);
        string manifest = serializer.Manifest(chunk);
        foreach (var bytes in Mutations(valid))
            Survives<SerializationException>(() => serializer.FromBinary(bytes, manifest));
        Survives<SerializationException>(() => serializer.FromBinary(valid, "not-a-manifest"));
    }

    [Fact]
    public void Frame_headers()
    {
        const int size = TensorFrame.HeaderSize;
        var valid = new byte[size];
        TensorFrame.WriteHeader(new TensorHeader(Guid.NewGuid(), 1, 1, TensorKind.Weights, TensorHeader.NoShard, 100), valid);
        int cutShort = 0, accepted = 0, refused = 0;
        foreach (var mutated in Mutations(valid))
        {
            // a short one as it is (the parser checks the length itself), and filled up to a header's size with noise: a header
            // cut short and followed by whatever the stream carried next, which reaches the field checks
            var inputs = new List<byte[]> { mutated };
            if (mutated.Length < size)
            {
                cutShort++;
                var filled = new byte[size];
                mutated.CopyTo(filled, 0);
                _rng.NextBytes(filled.AsSpan(mutated.Length));
                inputs.Add(filled);
            }
            foreach (var bytes in inputs)
                Survives<TensorProtocolException>(() =>
                {
                    if (!TensorFrame.TryReadHeader(bytes, 1000, out var header, out var error))
                    {
                        refused++;
                        if (bytes.Length < size) Assert.Equal($"a tensor frame header needs {size} bytes, got {bytes.Length}", error);
                        throw new TensorProtocolException(error);
                    }
                    accepted++;
                    Assert.InRange(header.Count, 0, 1000);
                    // what it accepts is exactly a header it could have written: every one of the 48 bytes is checked or read
                    var written = new byte[size];
                    TensorFrame.WriteHeader(header, written);
                    Assert.Equal(bytes[..size], written);
                });
        }
        Assert.True(cutShort > 0 && accepted > 0 && refused > 0, $"{cutShort} cut short, {accepted} accepted, {refused} refused: the mutations missed a path");
    }

    [Fact]
    [Trait(TestTiers.Category, TestTiers.Integration)]
    public async Task Random_bytes_on_a_data_plane_connection_are_refused_or_end_the_receive_loop_cleanly()
    {
        var token = TensorHandshake.NewToken();
        for (int round = 0; round < 30; round++)
        {
            // round % 3: 0 = noise instead of a hello, 1 = the right hello then noise, 2 = a hello with a random token
            var ended = new TaskCompletionSource<Exception?>(TaskCreationOptions.RunContinuationsAsynchronously);
            await using var listener = new TensorListener(IPAddress.Loopback, 0, async channel =>
            {
                try { await channel.ReceiveLoopAsync(new Discard()); ended.TrySetResult(null); }
                catch (Exception e) { ended.TrySetResult(e); }
            }, TensorChannelOptions.ForModel(1000) with { AccessToken = token }, e => ended.TrySetResult(e));
            using (var client = new TcpClient())
            {
                await client.ConnectAsync(IPAddress.Loopback, listener.LocalEndPoint.Port);
                var noise = new byte[_rng.Next(1, 4096)];
                _rng.NextBytes(noise);
                if (round % 2 == 0) "DNNT"u8.CopyTo(noise); // sometimes past the frame's magic
                if (round % 3 == 0 && round % 2 == 0) "DNNH"u8.CopyTo(noise); // or the hello's
                if (round % 3 != 0) await client.GetStream().WriteAsync(TensorHandshake.Hello(round % 3 == 1 ? token : TensorHandshake.NewToken()));
                await client.GetStream().WriteAsync(noise);
            } // closed: a hang would be waiting for more bytes
            var outcome = await ended.Task.WaitAsync(TimeSpan.FromSeconds(30));
            Assert.True(outcome is null or IOException, $"unexpected {outcome?.GetType().Name}: {outcome?.Message}");
            if (round % 3 != 1) Assert.IsType<TensorAuthenticationException>(outcome); // never past the handshake
        }
    }

    private sealed class Discard : ITensorSink
    {
        public bool TryGetDestination(in TensorHeader header, out Memory<float> destination)
        {
            destination = default;
            return false;
        }

        public void Received(in TensorHeader header, Memory<float> payload) { }
    }
}
