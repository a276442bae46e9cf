using DistributedNN.Numerics;

namespace DistributedNN.Model;

public enum InitScheme
{
    /// <summary>He for ReLU layers, Xavier for the others.</summary>
    Auto,
    /// <summary>Xavier/Glorot uniform: W ~ U(−√(6/(in+out)), +√(6/(in+out))), b = 0. Keeps variance for tanh/sigmoid.</summary>
    Xavier,
    /// <summary>He/Kaiming normal (fan-in): W ~ N(0, 2/in), b = 0. Keeps variance through ReLU, which zeroes half.</summary>
    He,
    /// <summary>PyTorch's nn.Linear default: W, b ~ U(−1/√in, +1/√in).</summary>
    PyTorch,
}

public static class Initializer
{
    public static bool TryParse(string? text, out InitScheme scheme)
    {
        switch (text?.Trim().ToLowerInvariant())
        {
            case "auto": scheme = InitScheme.Auto; return true;
            case "xavier" or "glorot": scheme = InitScheme.Xavier; return true;
            case "he" or "kaiming": scheme = InitScheme.He; return true;
            case "pytorch" or "torch": scheme = InitScheme.PyTorch; return true;
            default: scheme = default; return false;
        }
    }

    /// <summary>Fills <paramref name="parameters"/> from <paramref name="seed"/>; each layer draws from its own stream.</summary>
    public static void Initialize(NetworkSpec spec, Span<float> parameters, InitScheme scheme, ulong seed)
    {
        if (parameters.Length != spec.ParameterCount) throw new ArgumentException("parameter vector does not match the network");
        for (int l = 0; l < spec.Layers.Count; l++)
        {
            var layer = spec.Layers[l];
            if (!layer.HasParameters) continue;
            var rng = Rng.For(seed, stream: 1, index: (ulong)l);
            var w = parameters.Slice(spec.WeightOffset(l), layer.WeightCount);
            var b = parameters.Slice(spec.BiasOffset(l), layer.BiasCount);
            if (layer.Kind is LayerKind.LayerNorm or LayerKind.BatchNorm)
            {
                w.Fill(1f); // γ = 1, β = 0: the identity, as torch.nn.LayerNorm and BatchNorm start
                b.Clear();
                int channels = layer.StatCount / 2; // batch normalisation's running mean 0, running variance 1
                parameters.Slice(spec.StatOffset(l), channels).Clear();
                parameters.Slice(spec.StatOffset(l) + channels, channels).Fill(1f);
                continue;
            }
            var effective = scheme == InitScheme.Auto
                ? (layer.Activation is Activation.ReLU or Activation.LeakyReLU or Activation.ELU or Activation.GELU or Activation.SiLU ? InitScheme.He : InitScheme.Xavier)
                : scheme;
            switch (effective)
            {
                case InitScheme.Xavier:
                    double limit = System.Math.Sqrt(6.0 / (layer.FanIn + layer.FanOut));
                    for (int i = 0; i < w.Length; i++) w[i] = (float)((2 * rng.NextDouble() - 1) * limit);
                    b.Clear();
                    break;
                case InitScheme.He:
                    double std = System.Math.Sqrt(2.0 / layer.FanIn);
                    for (int i = 0; i < w.Length; i++) w[i] = (float)(rng.NextGaussian() * std);
                    b.Clear();
                    break;
                case InitScheme.PyTorch:
                    double bound = 1.0 / System.Math.Sqrt(layer.FanIn);
                    for (int i = 0; i < w.Length; i++) w[i] = (float)((2 * rng.NextDouble() - 1) * bound);
                    for (int i = 0; i < b.Length; i++) b[i] = (float)((2 * rng.NextDouble() - 1) * bound);
                    break;
                default: throw new ArgumentOutOfRangeException(nameof(scheme));
            }
        }
    }
}
