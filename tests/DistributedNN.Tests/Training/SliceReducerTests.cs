using System.Runtime.InteropServices;
using DistributedNN.Coordinator;
using DistributedNN.Model;
using DistributedNN.Numerics;
using DistributedNN.Tests.Engine;
using DistributedNN.Training;

namespace DistributedNN.Tests.Training;

/// <summary>
/// The sharded topology's promise, without a cluster: a network-sized parameter vector cut into slices (at the
/// <see cref="ReduceTopology.Cut"/> bounds and at offsets that are no multiple of 16), each slice's owner summing the K
/// shards' parts in shard order and updating its slice, gives bit for bit the whole-vector update of one process — the
/// shard-ordered sum (<see cref="ShardSum.AddInOrder"/>) and <see cref="Optimizer.Step(Span{float}, ReadOnlySpan{float}, float)"/>
/// with scale 1/Σsamples — over consecutive steps, with parts arriving in any order, twice, or for another version, on
/// every kernel path.
/// </summary>
[Collection(KernelPathCollection.Name)]
public sealed class SliceReducerTests
{
    private static readonly NetworkSpec Spec = NetworkSpec.FromSizes([50, 80, 12], Activation.ReLU, Activation.Softmax, LossKind.CrossEntropy);
    private static readonly int P = Spec.ParameterCount; // 5,052
    private static readonly int[] Samples = [7, 6, 0, 6, 7]; // shard 2 is empty: its part (NaN here) must not count
    private static readonly int Batch = Samples.Sum();
    private const int Shards = 5;
    private const long FirstVersion = 11;

    public static TheoryData<OptimizerKind, float, KernelPath> Cases()
    {
        var cases = new TheoryData<OptimizerKind, float, KernelPath>();
        (OptimizerKind, float)[] kinds = [(OptimizerKind.Sgd, 0f), (OptimizerKind.Momentum, 0.01f), (OptimizerKind.Nesterov, 0f), (OptimizerKind.Adam, 0.01f), (OptimizerKind.AdamW, 0.05f)];
        foreach (var (kind, decay) in kinds)
            foreach (var path in new[] { KernelPath.Scalar, KernelPath.Vector256, KernelPath.Vector512 })
                cases.Add(kind, decay, path);
        return cases;
    }

    /// <summary>The cuts: the topology's for 1, 3 and 7 owners, and one at awkward offsets (1, 18, 1023, 1041, …: no multiple of 16).</summary>
    private static int[][] Cuts() => [ReduceTopology.Cut(P, 1), ReduceTopology.Cut(P, 3), ReduceTopology.Cut(P, 7), [0, 1, 18, 1023, 1041, 2050, 3333, 5001, P]];

    [Theory]
    [MemberData(nameof(Cases))]
    public void Slices_updated_by_their_owners_are_the_bits_of_the_whole_vector_update(OptimizerKind kind, float decay, KernelPath path)
    {
        using var _ = KernelPathScope.Use(path);
        var settings = new OptimizerSettings(kind, 0.01f, WeightDecay: decay);
        foreach (int warmSteps in new[] { 0, 2 }) // owners starting fresh, and from a replica's state mid-run (Adam's t, moments)
            foreach (var bounds in Cuts())
            {
                var rng = new Rng((ulong)(bounds.Length * 10 + warmSteps));
                var whole = Values(rng, P, 1);
                var reference = new Optimizer(settings, P);
                for (int t = 0; t < warmSteps; t++) reference.Step(whole, Values(rng, P, 30), 1f / Batch);
                var replica = Copy(reference, settings); // the coordinator's way: the same update layer by layer
                var replicaWeights = (float[])whole.Clone();
                var owners = Owners(bounds, settings, reference, whole);
                for (int step = 0; step < 3; step++)
                {
                    var parts = ShardParts(rng);
                    var total = new float[P];
                    var stats = ShardSum.AddInOrder(Shards, s => parts[s], s => new BatchStats(0, 0, Samples[s]), total);
                    Assert.Equal(Batch, stats.Count);
                    Assert.NotEqual(Bits(total), Bits(ReversedSum(parts))); // the parts are such that the order of addition shows
                    reference.Step(whole, total, 1f / stats.Count);
                    replica.Step(replicaWeights, total, 1f / stats.Count, Spec, new double[Spec.Layers.Count]);
                    Assert.Equal(Bits(whole), Bits(replicaWeights));
                    foreach (var owner in owners)
                    {
                        long version = owner.Version;
                        Deliver(owner, parts, rng);
                        owner.Apply();
                        Assert.Equal(version + 1, owner.Version);
                        Assert.Equal(Batch, owner.LastSamples);
                        Assert.Equal(Bits(total.AsSpan(owner.Offset, owner.Length)), Bits(owner.Sum));
                        Assert.Equal(reference.Steps, owner.Optimizer.Steps);
                    }
                    var context = $"{kind} on {path}, cut {string.Join(",", bounds)}, {warmSteps} earlier steps, step {step + 1}";
                    Assert.True(Bits(whole).SequenceEqual(Bits(owners.SelectMany(o => o.Weights).ToArray())), context);
                    Assert.True(Bits(reference.Velocity).SequenceEqual(Bits(owners.SelectMany(o => o.Optimizer.Velocity).ToArray())), context);
                    Assert.True(Bits(reference.SecondMoment).SequenceEqual(Bits(owners.SelectMany(o => o.Optimizer.SecondMoment).ToArray())), context);
                }
            }
    }

    [Fact]
    public void Apply_before_every_part_is_in_throws_and_only_the_slices_shards_count()
    {
        var owner = new SliceReducer(16, 40, Shards, new OptimizerSettings(OptimizerKind.Sgd, 0.1f), 0, FirstVersion);
        Assert.Throws<InvalidOperationException>(owner.Apply);
        var part = new float[40];
        Assert.False(owner.Offer(FirstVersion, -1, part, 3));
        Assert.False(owner.Offer(FirstVersion, Shards, part, 3));
        Assert.Throws<ArgumentException>(() => owner.Offer(FirstVersion, 0, new float[41], 3));
        for (int s = Shards - 1; s >= 1; s--) Assert.False(owner.Offer(FirstVersion, s, part, 3));
        Assert.False(owner.AllIn);
        Assert.Throws<InvalidOperationException>(owner.Apply);
        Assert.True(owner.Offer(FirstVersion, 0, part, 3));
        owner.Apply();
        Assert.Equal(15, owner.LastSamples);
        Assert.Equal(FirstVersion + 1, owner.Version);
        Assert.False(owner.AllIn);
        Assert.Throws<InvalidOperationException>(owner.Apply); // the next step's parts are not in
    }

    [Theory]
    [InlineData(0, 0, 3)]  // no length
    [InlineData(-1, 5, 3)] // an offset before the vector
    [InlineData(0, 5, 0)]  // no shards
    public void A_slice_needs_a_length_an_offset_and_shards(int offset, int length, int shards) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new SliceReducer(offset, length, shards, new OptimizerSettings(OptimizerKind.Sgd, 0.1f), 0, 0));

    /// <summary>One owner per slice of <paramref name="bounds"/>, starting from the reference's weights and optimizer state (as the coordinator's SliceState frames give it).</summary>
    private static List<SliceReducer> Owners(int[] bounds, OptimizerSettings settings, Optimizer reference, float[] weights)
    {
        var owners = new List<SliceReducer>();
        for (int i = 0; i + 1 < bounds.Length; i++)
        {
            var (offset, length) = (bounds[i], bounds[i + 1] - bounds[i]);
            var owner = new SliceReducer(offset, length, Shards, settings, reference.Steps, FirstVersion + reference.Steps);
            weights.AsSpan(offset, length).CopyTo(owner.Weights);
            if (reference.Velocity.Length > 0) reference.Velocity.AsSpan(offset, length).CopyTo(owner.Optimizer.Velocity);
            if (reference.SecondMoment.Length > 0) reference.SecondMoment.AsSpan(offset, length).CopyTo(owner.Optimizer.SecondMoment);
            owners.Add(owner);
        }
        return owners;
    }

    /// <summary>
    /// The shards' parts of the owner's slice in a shuffled order, each preceded by a part for another version and followed
    /// by a second copy of an arrived shard (both garbage, both to be ignored); true only from the last part on.
    /// </summary>
    private static void Deliver(SliceReducer owner, float[][] parts, Rng rng)
    {
        var order = Enumerable.Range(0, Shards).ToArray();
        for (int i = Shards - 1; i > 0; i--)
        {
            int j = rng.NextInt(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        var garbage = Values(rng, owner.Length, 1e6);
        for (int n = 0; n < Shards; n++)
        {
            int shard = order[n];
            Assert.False(owner.Offer(owner.Version + 1, shard, garbage, Samples[shard]));
            Assert.False(owner.Offer(owner.Version - 1, shard, garbage, Samples[shard]));
            bool last = owner.Offer(owner.Version, shard, parts[shard].AsSpan(owner.Offset, owner.Length), Samples[shard]);
            Assert.Equal(n == Shards - 1, last);
            Assert.Equal(last, owner.AllIn);
            Assert.False(owner.Offer(owner.Version, order[rng.NextInt(n + 1)], garbage, 1)); // a redone shard: ignored
            Assert.Equal(last, owner.AllIn);
        }
    }

    /// <summary>Five shard gradients of mixed magnitudes (so the order of addition changes bits); the empty shard's is NaN.</summary>
    private static float[][] ShardParts(Rng rng)
    {
        var parts = new float[Shards][];
        for (int s = 0; s < Shards; s++)
        {
            parts[s] = Values(rng, P, 1);
            for (int i = 0; i < P; i++) parts[s][i] *= MathF.Pow(10, rng.NextInt(7) - 3);
        }
        Array.Fill(parts[2], float.NaN);
        return parts;
    }

    private static float[] ReversedSum(float[][] parts)
    {
        var sum = new float[P];
        for (int s = Shards - 1; s >= 0; s--)
            if (Samples[s] > 0)
                for (int i = 0; i < P; i++) sum[i] += parts[s][i];
        return sum;
    }

    private static Optimizer Copy(Optimizer source, OptimizerSettings settings)
    {
        var copy = new Optimizer(settings, P) { Steps = source.Steps };
        source.Velocity.CopyTo(copy.Velocity, 0);
        source.SecondMoment.CopyTo(copy.SecondMoment, 0);
        return copy;
    }

    private static float[] Values(Rng rng, int n, double scale)
    {
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float)((rng.NextDouble() * 2 - 1) * scale);
        return x;
    }

    private static int[] Bits(ReadOnlySpan<float> values) => MemoryMarshal.Cast<float, int>(values).ToArray();
}
