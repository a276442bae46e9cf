using DistributedNN.Numerics;

namespace DistributedNN.Model;

/// <summary>What a layer's activations can tell about its health.</summary>
public enum HealthSignal
{
    /// <summary>Nothing measured (identity, softmax).</summary>
    None,
    /// <summary>ReLU: units whose output is 0 for every sample of a shard pass no gradient at all ("dead").</summary>
    Dead,
    /// <summary>Sigmoid / tanh: outputs near the asymptotes, where the derivative is almost 0 ("saturated").</summary>
    Saturated,
}

/// <summary>
/// Counts of dead ReLU units and saturated sigmoid/tanh outputs in one forward pass. Counts are integers per
/// shard added up, so a step's figures are the same whichever workers computed its shards.
/// </summary>
public static class ActivationHealth
{
    /// <summary>A sigmoid output is saturated below this or above 1 − this (a' = a(1 − a) &lt; 0.0099); tanh beyond ±(1 − this).</summary>
    public const float Margin = 0.01f;

    public static HealthSignal Signal(Activation activation) => activation switch
    {
        Activation.ReLU => HealthSignal.Dead,
        Activation.Sigmoid or Activation.Tanh => HealthSignal.Saturated,
        _ => HealthSignal.None,
    };

    /// <summary>The column name of the signal in the CSV files ("dead" or "saturated"), null for none.</summary>
    public static string? Name(HealthSignal signal) => signal switch
    {
        HealthSignal.Dead => "dead",
        HealthSignal.Saturated => "saturated",
        _ => null,
    };

    /// <summary>
    /// For ReLU: the (shard, unit) pairs where the unit is 0 for every row of the shard. For sigmoid / tanh: the
    /// outputs within <see cref="Margin"/> of an asymptote. 0 otherwise. <paramref name="a"/> is [rows × n];
    /// <paramref name="scratch"/> holds n floats.
    /// </summary>
    public static unsafe int Count(Activation activation, float* a, int n, ReadOnlySpan<int> bounds, float* scratch)
    {
        switch (Signal(activation))
        {
            case HealthSignal.Dead:
                int dead = 0;
                for (int s = 0; s + 1 < bounds.Length; s++)
                    if (bounds[s + 1] > bounds[s]) dead += DeadUnits(a, n, bounds[s], bounds[s + 1], scratch);
                return dead;
            case HealthSignal.Saturated:
                float low = activation == Activation.Sigmoid ? Margin : -1f + Margin, high = 1f - Margin;
                return (int)Elementwise.CountOutside(a, (long)bounds[^1] * n, low, high);
            default:
                return 0;
        }
    }

    /// <summary>The fraction a count stands for: of the (non-empty shard, unit) pairs, or of all outputs.</summary>
    public static double Fraction(Activation activation, int count, int units, int samples, int shards) => Signal(activation) switch
    {
        HealthSignal.Dead when shards > 0 => (double)count / ((long)units * System.Math.Min(shards, samples)),
        HealthSignal.Saturated when samples > 0 => (double)count / ((long)units * samples),
        _ => 0,
    };

    // ReLU outputs are ≥ 0: a unit is dead in the shard when its maximum over the shard's rows is 0.
    private static unsafe int DeadUnits(float* a, int n, int first, int end, float* max)
    {
        new Span<float>(max, n).Clear();
        for (int r = first; r < end; r++) Elementwise.MaxInto(max, a + (long)r * n, n);
        int dead = 0;
        for (int j = 0; j < n; j++)
            if (!(max[j] > 0)) dead++;
        return dead;
    }
}
