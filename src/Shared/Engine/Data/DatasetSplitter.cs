namespace DistributedNN.Data;

/// <summary>Splits one data set into a training and a test set.</summary>
public static class DatasetSplitter
{
    /// <summary>
    /// Puts a random <paramref name="testFraction"/> of the rows (rounded, but at least one row and
    /// leaving at least one) into the test set and the rest into the training set. The choice
    /// depends only on <paramref name="seed"/> and the row count — the generator is our own, so the
    /// split does not change with the .NET version — and both parts keep the file's row order.
    /// </summary>
    /// <exception cref="UserErrorException">The fraction is not strictly between 0 and 1, or there are fewer than 2 rows.</exception>
    public static (Dataset Train, Dataset Test) Split(Dataset data, double testFraction, int seed)
    {
        if (!(testFraction > 0 && testFraction < 1))
            throw new UserErrorException($"test fraction {testFraction} must be greater than 0 and less than 1");
        if (data.Count < 2)
            throw new UserErrorException($"{data.Name}: {data.Count} row(s) are too few to split into a training and a test set");

        var (test, train) = Choose(data.Count, testFraction, seed);
        return (Select(data, train, $"{data.Name} train"), Select(data, test, $"{data.Name} test"));
    }

    /// <summary>Seed of <see cref="HoldOut"/>'s choice: a constant, so every run over the same data validates on the same samples.</summary>
    public const int ValidationSeed = 2;

    /// <summary>
    /// Holds out round(<paramref name="fraction"/>·n) samples of a training set (at least one, leaving at least one) as
    /// its validation set, the rest being what the run trains on. The samples are a seeded random choice
    /// (<see cref="ValidationSeed"/>, the generator of <see cref="Split"/>), not the last ones: an image folder's training
    /// set, or a CSV file's, may be ordered by class. A function of the data and the fraction alone — every node that
    /// loads the same data holds out the same samples — and both parts keep the set's order.
    /// </summary>
    /// <exception cref="UserErrorException">The fraction is not strictly between 0 and 1, or there are fewer than 2 samples.</exception>
    public static (Dataset Train, Dataset Validation) HoldOut(Dataset train, double fraction)
    {
        if (!(fraction > 0 && fraction < 1))
            throw new UserErrorException($"--validation-fraction must be greater than 0 and less than 1 (got {fraction})");
        if (train.Count < 2)
            throw new UserErrorException($"{train.Name}: {train.Count} sample(s) are too few to hold out a validation set (--validation-fraction)");
        var (validation, rest) = Choose(train.Count, fraction, ValidationSeed);
        // views of the set's rows, which stay in their stored type (pixel bytes, a mapped cache)
        return (View(train, rest, train.Name), View(train, validation, $"{train.Name} (validation)"));
    }

    /// <summary>round(fraction·count) of the indices 0..count−1 (at least one, leaving at least one), a seeded choice, and the rest; both ascending.</summary>
    private static (int[] Chosen, int[] Others) Choose(int count, double fraction, int seed)
    {
        int chosen = System.Math.Clamp((int)System.Math.Round(count * fraction), 1, count - 1);
        var order = Shuffle(count, seed);
        var picked = order.AsSpan(0, chosen).ToArray();
        var rest = order.AsSpan(chosen).ToArray();
        Array.Sort(picked);
        Array.Sort(rest);
        return (picked, rest);
    }

    /// <summary>A copy of the rows at <paramref name="indices"/>, in that order.</summary>
    internal static Dataset Select(Dataset data, int[] indices, string name)
    {
        int width = data.FeatureCount;
        var features = new float[indices.Length * width];
        var labels = new int[indices.Length];
        for (int i = 0; i < indices.Length; i++)
        {
            data.CopySample(indices[i], features.AsSpan(i * width, width));
            labels[i] = data.Labels[indices[i]];
        }
        return new Dataset(name, features, labels, width, data.ClassCount);
    }

    private static Dataset View(Dataset data, int[] indices, string name) =>
        new(name, data.Rows.Select(indices), indices.Select(i => data.Labels[i]).ToArray(), data.ClassCount);

    // Fisher–Yates over 0..count-1.
    private static int[] Shuffle(int count, int seed)
    {
        var order = new int[count];
        for (int i = 0; i < count; i++)
            order[i] = i;
        var random = new SplitMix64((ulong)(uint)seed);
        for (int i = count - 1; i > 0; i--)
        {
            int j = random.NextBelow(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        return order;
    }

    /// <summary>SplitMix64 (Steele, Lea & Flood): tiny, fast, and fully specified, so splits are reproducible everywhere.</summary>
    private struct SplitMix64(ulong seed)
    {
        private ulong _state = seed;

        public ulong Next()
        {
            ulong z = _state += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }

        // Multiply-high maps 64 random bits onto [0, bound) with negligible bias and no division.
        public int NextBelow(int bound) => (int)System.Math.BigMul(Next(), (ulong)bound, out _);
    }
}
