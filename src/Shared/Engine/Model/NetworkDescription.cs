namespace DistributedNN.Model;

/// <summary>A network: a plain stack by its sizes and activations; a graph by its model spec JSON in <see cref="Graph"/>.</summary>
public sealed record NetworkDescription(int[] Sizes, string[] Activations, string Loss, string? Graph = null);

/// <summary>A network spec to and from the description jobs, checkpoints and model files carry.</summary>
public static class NetworkDescriptions
{
    public static NetworkDescription ToDescription(this NetworkSpec spec) => new(
        [spec.InputSize, .. spec.Layers.Select(l => l.Outputs)],
        spec.Layers.Select(l => l.Activation.Name()).ToArray(),
        spec.Loss.Name(),
        spec.IsPlainStack ? null : ModelSpec.ToJson(spec));

    public static NetworkSpec ToSpec(this NetworkDescription d)
    {
        if (d.Graph is not null) return ModelSpec.Parse(d.Graph, "network description");
        if (d.Sizes.Length != d.Activations.Length + 1) throw new UserErrorException("network description: sizes and activations do not match");
        var layers = new LayerSpec[d.Activations.Length];
        for (int l = 0; l < layers.Length; l++)
        {
            if (!Activations.TryParse(d.Activations[l], out var act)) throw new UserErrorException($"network description: unknown activation '{d.Activations[l]}'");
            layers[l] = new LayerSpec(d.Sizes[l], d.Sizes[l + 1], act);
        }
        if (!Losses.TryParse(d.Loss, out var loss)) throw new UserErrorException($"network description: unknown loss '{d.Loss}'");
        return new NetworkSpec(layers, loss);
    }
}
