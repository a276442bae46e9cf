using System.CommandLine;
using System.Globalization;
using DistributedNN.Model;
using DistributedNN.Serialization;
using DistributedNN.Training;

namespace DistributedNN.Coordinator.Cli;

/// <summary>`dnn inspect`: a model's layers, shapes and parameter count.</summary>
public static class InspectCommand
{
    public static Command Create(TextWriter stdout)
    {
        var model = new Argument<string>("model") { Description = "A model file (or its JSON export)." };
        var command = new Command("inspect", "Show a saved model: its layers (inputs → outputs, activation, W and b shapes, parameters), the loss, the total parameter count, the notes and the weights' SHA-256.\n\nExample:\n  dnn inspect model.dnn");
        command.Arguments.Add(model);
        command.SetAction(parse =>
        {
            string path = parse.GetValue(model)!;
            var trained = ModelLoader.Load(path);
            var spec = trained.Spec;
            var inv = CultureInfo.InvariantCulture;
            stdout.WriteLine($"model       {path}");
            stdout.WriteLine($"network     {spec.Describe()}");
            stdout.WriteLine($"loss        {spec.Loss.Name()}");
            stdout.WriteLine($"{"layer",-6} {"inputs",8} {"outputs",8}  {"activation",-10} {"W",-12} {"b",-7} {"parameters",12}");
            for (int l = 0; l < spec.Layers.Count; l++)
            {
                var layer = spec.Layers[l];
                string weights = layer.Kind switch
                {
                    LayerKind.Dense => $"{layer.Outputs}×{layer.Inputs}",
                    LayerKind.Conv => $"{layer.OutShape.Channels}×{layer.InShape.Channels}×{layer.Kernel}×{layer.Kernel}",
                    _ => "-",
                };
                stdout.WriteLine(string.Format(inv, "{0,-6} {1,8} {2,8}  {3,-10} {4,-12} {5,-7} {6,12:N0}", $"{l + 1} {layer.KindName}", layer.InShape, layer.OutShape,
                    layer.Activation.Name(), weights, layer.HasParameters ? $"{layer.BiasCount}" : "-", layer.ParameterCount));
            }
            stdout.WriteLine(string.Format(inv, "parameters  {0:N0} ({1:N0} bytes as float32)", spec.ParameterCount, spec.ParameterCount * 4L));
            stdout.WriteLine($"input       {Describe(trained.Input)}");
            if (trained.Input?.Classes is { } classes) stdout.WriteLine($"classes     {string.Join(", ", classes)}");
            if (trained.Notes.Length > 0) stdout.WriteLine($"notes       {trained.Notes}");
            stdout.WriteLine($"sha256      {TrainingState.HashWeights(trained.Parameters)} (of the weights)");
            return DnnCli.Ok;
        });
        return command;
    }

    /// <summary>What the model does to a raw sample, in words.</summary>
    internal static string Describe(Data.InputTransform? input) => input switch
    {
        null => "as given (no input transform kept: a model file from before version 3)",
        { Standardises: true } t => $"{(t.Scale == 1f ? "" : $"divided by {t.Scale.ToString(CultureInfo.InvariantCulture)}, then ")}standardised per feature (the training rows' mean and standard deviation of {t.Mean!.Count} features)",
        { Scale: 1f } => "as given",
        var t => $"divided by {t.Scale.ToString(CultureInfo.InvariantCulture)} (image pixels 0–255 to [0, 1])",
    };
}
