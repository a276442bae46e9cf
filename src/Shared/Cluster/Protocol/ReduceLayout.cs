using System.Buffers.Binary;
using System.Text;
using DistributedNN.Training;

namespace DistributedNN.Protocol;

/// <summary>A slice owner as the other workers reach it: its data-plane address and the token its listener takes from peers.</summary>
public sealed record SliceOwner(string Host, int Port, byte[] PeerToken);

/// <summary>
/// A sharded job's reduce layout, coordinator → each worker of it, before the first order it covers: the parameter
/// vector cut at <paramref name="Bounds"/> into one slice per worker, slice r owned by <paramref name="Owners"/>[r];
/// the weights are of <paramref name="Version"/> when it starts, and an owner's optimizer continues from
/// <paramref name="OptimizerSteps"/> updates (its state follows as <c>SliceState</c> frames). <paramref name="Self"/>: the
/// receiver's index. A new layout (a worker joined or left) starts over from the coordinator's state, so nothing lives
/// only on an owner. Encoded little-endian by <see cref="Write"/>; <see cref="Read"/> bounds every count first.
/// </summary>
public sealed record ReduceLayout(Guid Job, ushort Id, long Version, int Self, int[] Bounds, SliceOwner[] Owners, OptimizerSettings Optimizer, long OptimizerSteps)
{
    /// <summary>The most slice owners of a layout.</summary>
    public const int MaxOwners = 1024;
    private const int MaxHostBytes = 255;
    /// <summary>The most [start, end) ranges in each of the optimizer's lists (without weight decay; running statistics): a few per layer.</summary>
    public const int MaxRanges = 100_000;

    public int Slices => Owners.Length;
    public int Offset(int slice) => Bounds[slice];
    public int Length(int slice) => Bounds[slice + 1] - Bounds[slice];

    public byte[] Write()
    {
        using var bytes = new MemoryStream();
        using var w = new BinaryWriter(bytes, Encoding.UTF8);
        w.Write(Job.ToByteArray());
        w.Write(Id);
        w.Write(Version);
        w.Write(Self);
        w.Write(Owners.Length);
        foreach (int b in Bounds) w.Write(b);
        foreach (var o in Owners)
        {
            var host = Encoding.UTF8.GetBytes(o.Host);
            w.Write(host.Length);
            w.Write(host);
            w.Write(o.Port);
            w.Write(o.PeerToken);
        }
        w.Write((int)Optimizer.Kind);
        foreach (float f in (float[])[Optimizer.LearningRate, Optimizer.Momentum, Optimizer.WeightDecay, Optimizer.Beta1, Optimizer.Beta2, Optimizer.Epsilon]) w.Write(f);
        w.Write(OptimizerSteps);
        var schedule = Optimizer.Schedule ?? new LearningRateSchedule();
        w.Write((int)schedule.Kind);
        w.Write(schedule.WarmupSteps);
        w.Write(schedule.StepEpochs);
        w.Write(schedule.Gamma);
        w.Write(schedule.MinLearningRate);
        w.Write(schedule.StepsPerEpoch);
        w.Write(schedule.TotalSteps);
        w.Write(Optimizer.DecayBiases);
        foreach (var ranges in new[] { Optimizer.NoDecay ?? [], Optimizer.Averaged ?? [] })
        {
            w.Write(ranges.Length);
            foreach (int v in ranges) w.Write(v);
        }
        return bytes.ToArray();
    }

    /// <summary>The layout in <paramref name="source"/>, or null when the bytes cannot be one for a model of <paramref name="parameters"/> values.</summary>
    public static ReduceLayout? Read(ReadOnlySpan<byte> source, int parameters, int tokenSize)
    {
        var r = new Reader(source);
        var job = r.Guid();
        var (id, version, self, owners) = (r.UShort(), r.Long(), r.Int(), r.Int());
        if (!r.Ok || owners < 1 || owners > MaxOwners || (uint)self >= (uint)owners) return null;
        var bounds = new int[owners + 1];
        for (int i = 0; i <= owners; i++) bounds[i] = r.Int();
        if (!r.Ok || bounds[0] != 0 || bounds[owners] != parameters) return null;
        for (int i = 0; i < owners; i++)
            if (bounds[i + 1] <= bounds[i]) return null;
        var list = new SliceOwner[owners];
        for (int i = 0; i < owners; i++)
        {
            int hostBytes = r.Int();
            if (!r.Ok || hostBytes < 1 || hostBytes > MaxHostBytes) return null;
            var host = r.Bytes(hostBytes);
            int port = r.Int();
            var token = r.Bytes(tokenSize);
            if (!r.Ok || port is < 1 or > 65535) return null;
            list[i] = new SliceOwner(Encoding.UTF8.GetString(host), port, token.ToArray());
        }
        var kind = (OptimizerKind)r.Int();
        var (lr, momentum, decay, beta1, beta2, epsilon) = (r.Float(), r.Float(), r.Float(), r.Float(), r.Float(), r.Float());
        long steps = r.Long();
        var scheduleKind = (ScheduleKind)r.Int();
        var (warmup, stepEpochs, gamma, minRate, perEpoch, total) = (r.Int(), r.Int(), r.Float(), r.Float(), r.Long(), r.Long());
        bool decayBiases = r.Byte() != 0;
        var noDecay = Ranges(ref r);
        var averaged = Ranges(ref r);
        if (noDecay is null || averaged is null) return null;
        if (!r.Ok || !Enum.IsDefined(kind) || !Enum.IsDefined(scheduleKind) || version < 0 || steps < 0) return null;
        var schedule = scheduleKind == ScheduleKind.Constant && warmup == 0 ? null : new LearningRateSchedule(scheduleKind, warmup, stepEpochs, gamma, minRate, perEpoch, total);
        var optimizer = new OptimizerSettings(kind, lr, momentum, decay, beta1, beta2, epsilon, schedule, decayBiases, decayBiases ? null : noDecay, averaged.Length > 0 ? averaged : null);
        try { optimizer.Validate(); }
        catch (UserErrorException) { return null; }
        return new ReduceLayout(job, id, version, self, bounds, list, optimizer, steps);
    }

    private static int[]? Ranges(ref Reader r)
    {
        int count = r.Int();
        if (!r.Ok || count < 0 || count > 2 * MaxRanges || count % 2 != 0) return null;
        var ranges = new int[count];
        for (int i = 0; i < count; i++) ranges[i] = r.Int();
        return r.Ok ? ranges : null;
    }

    /// <summary>Reads values while the bytes last; <see cref="Ok"/> turns false for good once a read would pass the end.</summary>
    private ref struct Reader(ReadOnlySpan<byte> bytes)
    {
        private readonly ReadOnlySpan<byte> _bytes = bytes;
        private int _at;
        public bool Ok { get; private set; } = true;

        public ReadOnlySpan<byte> Bytes(int n)
        {
            if (!Ok || n < 0 || _at + n > _bytes.Length)
            {
                Ok = false;
                return new byte[Math.Max(0, n)];
            }
            var v = _bytes.Slice(_at, n);
            _at += n;
            return v;
        }

        public Guid Guid() => new(Bytes(16));
        public ushort UShort() => BinaryPrimitives.ReadUInt16LittleEndian(Bytes(2));
        public int Int() => BinaryPrimitives.ReadInt32LittleEndian(Bytes(4));
        public long Long() => BinaryPrimitives.ReadInt64LittleEndian(Bytes(8));
        public float Float() => BinaryPrimitives.ReadSingleLittleEndian(Bytes(4));
        public byte Byte() => Bytes(1)[0];
    }
}
