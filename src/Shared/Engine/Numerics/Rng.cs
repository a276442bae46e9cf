namespace DistributedNN.Numerics;

/// <summary>
/// A small seeded generator (xoshiro256**, seeded through SplitMix64). Our own rather than
/// <see cref="System.Random"/> so that initial weights and epoch permutations are a documented
/// function of the seed, the same on every node and every .NET version.
/// </summary>
public sealed class Rng
{
    private ulong _s0, _s1, _s2, _s3;

    public Rng(ulong seed) => Seed(seed);

    private void Seed(ulong seed)
    {
        ulong x = seed;
        _s0 = SplitMix(ref x); _s1 = SplitMix(ref x); _s2 = SplitMix(ref x); _s3 = SplitMix(ref x);
    }

    /// <summary>A generator for a named sub-stream (e.g. epoch 3's permutation) of a run's seed.</summary>
    public static Rng For(ulong seed, ulong stream, ulong index = 0)
    {
        var rng = new Rng(0);
        rng.Restart(seed, stream, index);
        return rng;
    }

    /// <summary>This generator becomes <see cref="For"/>(seed, stream, index), without allocating a new one.</summary>
    public void Restart(ulong seed, ulong stream, ulong index = 0)
    {
        ulong x = seed ^ (stream * 0x9E3779B97F4A7C15UL);
        x = SplitMix(ref x) ^ (index * 0xD1B54A32D192ED03UL);
        Seed(SplitMix(ref x));
    }

    private static ulong SplitMix(ref ulong x)
    {
        ulong z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public ulong NextUInt64()
    {
        ulong result = ulong.RotateLeft(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0; _s3 ^= _s1; _s1 ^= _s2; _s0 ^= _s3;
        _s2 ^= t;
        _s3 = ulong.RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform integer in [0, bound), without modulo bias.</summary>
    public int NextInt(int bound)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bound);
        ulong b = (ulong)bound;
        ulong threshold = (0UL - b) % b;
        while (true)
        {
            ulong r = NextUInt64();
            if (r >= threshold) return (int)(r % b);
        }
    }

    /// <summary>Standard normal sample (Box–Muller; one of the pair is discarded to keep the stream simple).</summary>
    public double NextGaussian()
    {
        double u1 = 1.0 - NextDouble(); // (0, 1]: log is finite
        double u2 = NextDouble();
        return System.Math.Sqrt(-2.0 * System.Math.Log(u1)) * System.Math.Cos(2.0 * System.Math.PI * u2);
    }

    /// <summary>Fisher–Yates shuffle in place.</summary>
    public void Shuffle(Span<int> items)
    {
        for (int i = items.Length - 1; i > 0; i--)
        {
            int j = NextInt(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }
}
