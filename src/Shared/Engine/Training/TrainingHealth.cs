using System.Globalization;
using DistributedNN.Model;

namespace DistributedNN.Training;

/// <summary>
/// Reads each epoch's per-layer means (gradient norms, update/weight ratios, dead ReLUs, saturated sigmoids) and
/// names what looks wrong, once per problem and layer in a run:
/// <list type="bullet">
/// <item>vanishing: a layer's gradient norm below <see cref="VanishingFraction"/> of the largest layer's;</item>
/// <item>exploding: a layer's gradient norm more than <see cref="ExplodingGrowth"/>× its first epoch's;</item>
/// <item>large updates: ‖Δθ‖/‖θ‖ above <see cref="LargeUpdate"/> (a healthy run sits near 1e-3);</item>
/// <item>dead / saturated: more than half of a hidden layer's ReLU units dead, or sigmoid/tanh outputs saturated.</item>
/// </list>
/// </summary>
public sealed class TrainingHealth(NetworkSpec spec)
{
    public const double VanishingFraction = 1e-3;
    public const double ExplodingGrowth = 100;
    public const double LargeUpdate = 0.1;
    public const double ActivityLimit = 0.5;

    private readonly HashSet<(string Kind, int Layer)> _warned = [];
    private readonly List<HealthWarning> _all = [];
    private double[]? _firstNorms;
    private int _firstEpoch;

    /// <summary>Every warning so far, in order.</summary>
    public IReadOnlyList<HealthWarning> Warnings => _all;

    /// <summary>The new warnings for this epoch (a problem already reported for a layer is not repeated).</summary>
    public IReadOnlyList<HealthWarning> Check(EpochResult e)
    {
        var found = new List<HealthWarning>();
        var inv = CultureInfo.InvariantCulture;
        int layers = spec.Layers.Count;
        if (_firstNorms is null)
        {
            _firstNorms = (double[])e.GradientNorms.Clone();
            _firstEpoch = e.Epoch;
        }
        int largest = 0; // layers without parameters have no gradient norm (0) and never win
        for (int l = 1; l < layers; l++)
            if (e.GradientNorms[l] > e.GradientNorms[largest]) largest = l;
        bool squashing = spec.Layers.Take(layers - 1).Any(l => l.Activation is Activation.Sigmoid or Activation.Tanh);
        for (int l = 0; l < layers; l++)
        {
            var layer = spec.Layers[l];
            string name = spec.IsPlainStack ? $"layer {l + 1} ({layer.Inputs}→{layer.Outputs}, {layer.Activation.Name()})" : $"layer {l + 1} ({layer.Describe()})";
            double norm = e.GradientNorms[l];
            bool weighted = layer.HasParameters;
            double top = e.GradientNorms[largest];
            if (weighted && l != largest && top > 0 && norm < VanishingFraction * top)
                Add(found, "vanishing", l, e, string.Format(inv,
                    "{0}: the gradient is vanishing: mean norm {1:0.##e0} in epoch {2}, {3:0.#e0} of layer {4}'s; {5}",
                    name, norm, e.Epoch, norm / top, largest + 1,
                    squashing ? "sigmoid/tanh derivatives (the logistic's is at most 0.25) shrink it layer by layer: try --activation relu"
                              : "check the initialisation (--init-scheme) and the depth"));
            double first = _firstNorms[l];
            if (weighted && e.Epoch != _firstEpoch && first > 0 && norm > ExplodingGrowth * first)
                Add(found, "exploding", l, e, string.Format(inv,
                    "{0}: the gradient is exploding: mean norm {1:0.##e0} in epoch {2}, {3:0}× epoch {4}'s; lower --lr",
                    name, norm, e.Epoch, norm / first, _firstEpoch));
            double ratio = e.UpdateRatios?[l] ?? 0;
            if (ratio > LargeUpdate)
                Add(found, "large-updates", l, e, string.Format(inv,
                    "{0}: the updates are large: ‖Δθ‖/‖θ‖ = {1:0.###} per step on average in epoch {2} (a healthy run is near 0.001); lower --lr",
                    name, ratio, e.Epoch));
            double health = e.Health?[l] ?? 0;
            if (l == layers - 1 || !(health > ActivityLimit)) continue; // outputs near 0 or 1 are what a trained output layer gives
            if (ActivationHealth.Signal(layer.Activation) == HealthSignal.Dead)
                Add(found, "dead", l, e, string.Format(inv,
                    "{0}: {1:0%} of its units are dead (0 for every sample of a shard) in epoch {2}: they pass no gradient; lower --lr or use --init-scheme he",
                    name, health, e.Epoch));
            else
                Add(found, "saturated", l, e, string.Format(inv,
                    "{0}: {1:0%} of its outputs are saturated (within {2} of an asymptote) in epoch {3}: the gradient through them is nearly 0",
                    name, health, ActivationHealth.Margin, e.Epoch));
        }
        return found;
    }

    private void Add(List<HealthWarning> found, string kind, int layer, EpochResult e, string message)
    {
        if (!_warned.Add((kind, layer + 1))) return;
        var warning = new HealthWarning(kind, layer + 1, e.Epoch, message);
        found.Add(warning);
        _all.Add(warning);
    }
}
