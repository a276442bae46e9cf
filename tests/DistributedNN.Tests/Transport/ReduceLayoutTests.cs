using System.Buffers.Binary;
using System.Text;
using DistributedNN.Coordinator;
using DistributedNN.Protocol;
using DistributedNN.Training;
using DistributedNN.Transport;

namespace DistributedNN.Tests.Transport;

/// <summary>
/// A sharded job's reduce layout on the wire: what <see cref="ReduceLayout.Write"/> writes reads back whole (also padded
/// to whole floats, as the Layout frame carries it), and <see cref="ReduceLayout.Read"/> turns every byte string that
/// cannot be a layout for the model — cut short, bounds that do not cut it, owners out of range, hosts, ports, optimizer —
/// into null, never an exception, whatever the bytes.
/// </summary>
public sealed class ReduceLayoutTests
{
    private const int P = 5_052;
    private const int Token = TensorHandshake.TokenSize;
    private static readonly OptimizerSettings Adam = new(OptimizerKind.AdamW, 0.003f, Momentum: 0.5f, WeightDecay: 0.01f, Beta1: 0.8f, Beta2: 0.99f, Epsilon: 1e-6f);

    private static ReduceLayout Layout(int owners = 3, int self = 1)
    {
        var list = Enumerable.Range(0, owners)
            .Select(i => new SliceOwner($"127.0.0.{i % 250 + 1}", 40_000 + i, Enumerable.Range(0, Token).Select(b => (byte)(b * 7 + i)).ToArray()))
            .ToArray();
        return new ReduceLayout(Guid.NewGuid(), 65_535, 42, self, ReduceTopology.Cut(P, owners), list, Adam, 17);
    }

    private static ReduceLayout? Read(byte[] bytes, int parameters = P) => ReduceLayout.Read(bytes, parameters, Token);

    [Fact]
    public void What_is_written_reads_back_whole_also_padded_to_whole_floats()
    {
        var layout = Layout() with { Owners = [new("worker-a.example", 1, new byte[Token]), new("127.0.0.1", 65_535, Enumerable.Repeat((byte)0xFF, Token).ToArray()), new(new string('h', 255), 7000, new byte[Token])] };
        var bytes = layout.Write();
        var padded = new byte[(bytes.Length + 3) / 4 * 4 + 8]; // the Layout frame's float payload, zeros after the layout
        bytes.CopyTo(padded, 0);
        foreach (var read in new[] { Read(bytes), Read(padded) })
        {
            Assert.NotNull(read);
            Assert.Equal((layout.Job, layout.Id, layout.Version, layout.Self, layout.OptimizerSteps, layout.Optimizer), (read.Job, read.Id, read.Version, read.Self, read.OptimizerSteps, read.Optimizer));
            Assert.Equal(layout.Bounds, read.Bounds);
            Assert.Equal(3, read.Slices);
            for (int i = 0; i < 3; i++)
            {
                Assert.Equal((layout.Owners[i].Host, layout.Owners[i].Port), (read.Owners[i].Host, read.Owners[i].Port));
                Assert.Equal(layout.Owners[i].PeerToken, read.Owners[i].PeerToken);
                Assert.Equal(layout.Bounds[i], read.Offset(i));
                Assert.Equal(layout.Bounds[i + 1] - layout.Bounds[i], read.Length(i));
            }
        }
        Assert.Null(Read(bytes, P + 1)); // a layout for another model
    }

    [Fact]
    public void Bytes_cut_short_at_any_length_are_no_layout()
    {
        var bytes = Layout().Write();
        for (int n = 0; n < bytes.Length; n++) Assert.Null(Read(bytes[..n]));
    }

    public static TheoryData<string, ReduceLayout> Impossible()
    {
        var good = Layout();
        var owner = good.Owners[0];
        SliceOwner[] With(SliceOwner o) => [o, good.Owners[1], good.Owners[2]];
        return new TheoryData<string, ReduceLayout>
        {
            { "bounds not starting at 0", good with { Bounds = [16, 1680, 3360, P] } },
            { "bounds ending before P", good with { Bounds = [0, 1680, 3360, P - 1] } },
            { "bounds ending after P", good with { Bounds = [0, 1680, 3360, P + 1] } },
            { "an empty slice", good with { Bounds = [0, 1680, 1680, P] } },
            { "decreasing bounds", good with { Bounds = [0, 3360, 1680, P] } },
            { "a negative bound", good with { Bounds = [0, -16, 1680, P] } },
            { "self before the owners", good with { Self = -1 } },
            { "self past the owners", good with { Self = 3 } },
            { "no owners", good with { Self = 0, Bounds = [P], Owners = [] } },
            { "more owners than a layout has", Layout(owners: ReduceLayout.MaxOwners + 1, self: 0) },
            { "an empty host", good with { Owners = With(owner with { Host = "" }) } },
            { "a host of 256 bytes", good with { Owners = With(owner with { Host = new string('h', 256) }) } },
            { "a host of 128 characters and 256 bytes", good with { Owners = With(owner with { Host = new string('é', 128) }) } },
            { "port 0", good with { Owners = With(owner with { Port = 0 }) } },
            { "port 65536", good with { Owners = With(owner with { Port = 65_536 }) } },
            { "a negative port", good with { Owners = With(owner with { Port = -7000 }) } },
            { "an unknown optimizer", good with { Optimizer = Adam with { Kind = (OptimizerKind)5 } } },
            { "a negative optimizer kind", good with { Optimizer = Adam with { Kind = (OptimizerKind)(-1) } } },
            { "a learning rate of 0", good with { Optimizer = Adam with { LearningRate = 0 } } },
            { "a NaN epsilon", good with { Optimizer = Adam with { Epsilon = float.NaN } } },
            { "a negative version", good with { Version = -1 } },
            { "negative optimizer steps", good with { OptimizerSteps = -1 } },
        };
    }

    [Theory]
    [MemberData(nameof(Impossible))]
    public void A_layout_that_cannot_be_reads_as_null(string what, ReduceLayout layout) =>
        Assert.True(Read(layout.Write()) is null, what);

    [Fact]
    public void Counts_past_any_limit_read_as_null_before_anything_is_allocated()
    {
        var bytes = Layout().Write();
        const int owners = 16 + 2 + 8 + 4, firstHost = owners + 4 + 4 * 4;
        foreach (int count in new[] { int.MaxValue, int.MinValue, -1, 0, ReduceLayout.MaxOwners + 1 })
        {
            var spoiled = (byte[])bytes.Clone();
            BinaryPrimitives.WriteInt32LittleEndian(spoiled.AsSpan(owners), count);
            Assert.Null(Read(spoiled));
        }
        Assert.Equal(9, BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(firstHost))); // "127.0.0.1"
        foreach (int hostBytes in new[] { int.MaxValue, int.MinValue, -1, 0, 256, bytes.Length })
        {
            var spoiled = (byte[])bytes.Clone();
            BinaryPrimitives.WriteInt32LittleEndian(spoiled.AsSpan(firstHost), hostBytes);
            Assert.Null(Read(spoiled));
        }
    }

    [Fact]
    public void Random_and_damaged_bytes_never_throw_and_what_reads_is_a_layout_of_the_model()
    {
        var good = Layout().Write();
        int read = 0;
        for (int seed = 0; seed < 3000; seed++)
        {
            var rng = new Random(seed);
            byte[] bytes;
            if (seed % 2 == 0)
            {
                bytes = new byte[rng.Next(0, 400)];
                rng.NextBytes(bytes);
            }
            else
            {
                bytes = (byte[])good.Clone();
                for (int k = rng.Next(1, 5); k > 0; k--) bytes[rng.Next(bytes.Length)] = (byte)rng.Next(256);
            }
            if (Read(bytes) is not { } layout) continue;
            read++;
            Assert.InRange(layout.Self, 0, layout.Slices - 1);
            Assert.Equal(layout.Slices + 1, layout.Bounds.Length);
            Assert.Equal(0, layout.Bounds[0]);
            Assert.Equal(P, layout.Bounds[^1]);
            for (int i = 0; i < layout.Slices; i++) Assert.True(layout.Length(i) > 0);
            Assert.All(layout.Owners, o => Assert.InRange(o.Port, 1, 65_535));
            Assert.All(layout.Owners, o => Assert.InRange(Encoding.UTF8.GetByteCount(o.Host), 1, 255 * 3)); // invalid UTF-8 reads as U+FFFD
            Assert.All(layout.Owners, o => Assert.Equal(Token, o.PeerToken.Length));
        }
        Assert.True(read > 0, "no damaged layout read"); // damage that spares the checked fields (a token byte, the job id) still reads
    }
}
