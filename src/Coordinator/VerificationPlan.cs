using System.Security.Cryptography;
using DistributedNN.Numerics;

namespace DistributedNN.Coordinator;

/// <summary>
/// Which shards of a step are computed twice and compared (--verify-fraction <see cref="Fraction"/>): each shard on its
/// own with probability F, drawn from the random stream keyed by the run's seed, the step and a <see cref="Key"/> only
/// the coordinator holds. The same key gives the same choice (metrics.json records it); the seed alone would not do,
/// because every worker gets the seed with its job and could then lie only on the shards nobody checks.
/// </summary>
public sealed record VerificationPlan(double Fraction, ulong Seed, ulong Key)
{
    /// <summary>The Rng stream of the choice (1: initialisation, 2: epoch permutations, 3: dropout masks).</summary>
    public const ulong Stream = 4;

    /// <summary>The shards of step <paramref name="step"/> (of <paramref name="shards"/>) to compute twice, ascending.</summary>
    public int[] Select(long step, int shards)
    {
        if (Fraction <= 0) return [];
        var rng = Rng.For(Seed ^ Key, Stream, (ulong)step);
        var chosen = new List<int>();
        for (int s = 0; s < shards; s++)
            if (rng.NextDouble() < Fraction) chosen.Add(s);
        return [.. chosen];
    }

    /// <summary>A key no worker can guess.</summary>
    public static ulong NewKey() => BitConverter.ToUInt64(RandomNumberGenerator.GetBytes(sizeof(ulong)));
}
