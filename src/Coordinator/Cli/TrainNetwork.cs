using System.Globalization;
using DistributedNN.Model;
using DistributedNN.Serialization;

namespace DistributedNN.Coordinator.Cli;

/// <summary>The network a `dnn train` run trains, and the checks of the weights it is given to start from.</summary>
internal static class TrainNetwork
{
    /// <summary>
    /// The checkpoint's network when resuming, else the --model-spec file's, else the --init file's graph, else a dense
    /// stack of --layers (the --init file's sizes, or <see cref="TrainCommand.DefaultLayers"/>) with the chosen activations and loss.
    /// </summary>
    public static NetworkSpec Choose(TrainRequest r, TrainChoices choices, Checkpoint? resumed, TrainedModel? initial)
    {
        if (resumed is not null) return resumed.Network.ToSpec();
        if (r.ModelSpec is not null) return ModelSpec.Load(r.ModelSpec);
        if (r.Layers is null && initial is { Spec.IsPlainStack: false }) return initial.Spec;
        var sizes = r.Layers is not null ? ParseLayers(r.Layers)
            : initial is not null ? [initial.Spec.InputSize, .. initial.Spec.Layers.Select(l => l.Outputs)]
            : ParseLayers(TrainCommand.DefaultLayers);
        return NetworkSpec.FromSizes(sizes, choices.Hidden, choices.Output, choices.Loss);
    }

    public static int[] ParseLayers(string text)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        var sizes = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out sizes[i]) || sizes[i] <= 0)
                throw new UserErrorException($"--layers '{text}': '{parts[i]}' is not a positive layer size (write sizes like 784,256,128,10)");
        if (sizes.Length < 2) throw new UserErrorException($"--layers '{text}' needs at least an input and an output size, e.g. 784,10");
        return sizes;
    }

    /// <exception cref="UserErrorException">The --init file's network is not <paramref name="spec"/>.</exception>
    public static void CheckSameShape(NetworkSpec spec, NetworkSpec init, string path)
    {
        if (!spec.IsPlainStack || !init.IsPlainStack)
        {
            if (ModelSpec.ToJson(spec) != ModelSpec.ToJson(init))
                throw new UserErrorException($"--init {path}: the file's network ({init}) is not this one ({spec})");
            return;
        }
        if (init.Layers.Count != spec.Layers.Count)
            throw new UserErrorException($"--init {path}: the file has {init.Layers.Count} layers but the network has {spec.Layers.Count}");
        for (int l = 0; l < spec.Layers.Count; l++)
            if (init.Layers[l].Inputs != spec.Layers[l].Inputs || init.Layers[l].Outputs != spec.Layers[l].Outputs)
                throw new UserErrorException($"--init {path}: layer {l + 1} is {init.Layers[l].Outputs}×{init.Layers[l].Inputs} in the file but {spec.Layers[l].Outputs}×{spec.Layers[l].Inputs} in the network");
    }
}
