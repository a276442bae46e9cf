using System.CommandLine;
using DistributedNN.Serialization;

namespace DistributedNN.Coordinator.Cli;

/// <summary>`dnn export`: a model file as plain JSON for other tools.</summary>
public static class ExportCommand
{
    public static Command Create(TextWriter stdout)
    {
        var model = new Argument<string>("model") { Description = "The model file written by `dnn train --save`." };
        var format = new Option<string>("--format") { Description = "Output format: json.", DefaultValueFactory = _ => "json" };
        var output = new Option<string?>("--output", "-o") { Description = "Where to write (default: the model path with .json)." };
        var command = new Command("export", "Write a trained model's architecture and every layer's W (rows = outputs) and b as JSON.\n\nExample:\n  dnn export model.dnn --format json -o model.json");
        command.Arguments.Add(model);
        command.Options.Add(format);
        command.Options.Add(output);
        command.SetAction(parse =>
        {
            string path = parse.GetValue(model)!;
            string fmt = parse.GetValue(format)!;
            if (!string.Equals(fmt, "json", StringComparison.OrdinalIgnoreCase))
                throw new UserErrorException($"--format '{fmt}' is not supported (supported: json)");
            var trained = ModelLoader.Load(path);
            string target = parse.GetValue(output) ?? Path.ChangeExtension(path, ".json");
            ModelJson.Save(target, trained);
            stdout.WriteLine($"exported {trained.Spec} to {target}");
            return DnnCli.Ok;
        });
        return command;
    }
}
