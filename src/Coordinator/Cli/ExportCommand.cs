using System.CommandLine;
using DistributedNN.Serialization;

namespace DistributedNN.Coordinator.Cli;

/// <summary>`dnn export`: a model file as plain JSON or as an ONNX model for other tools.</summary>
public static class ExportCommand
{
    public static Command Create(TextWriter stdout)
    {
        var model = new Argument<string>("model") { Description = "The model file written by `dnn train --save`." };
        var format = new Option<string>("--format") { Description = "Output format: json, or onnx (opset 13: Gemm + activation per layer, batch dimension N).", DefaultValueFactory = _ => "json" };
        var output = new Option<string?>("--output", "-o") { Description = "Where to write (default: the model path with .json or .onnx)." };
        var command = new Command("export", "Write a trained model for other tools: JSON (architecture, every layer's W with rows = outputs, and b) or ONNX.\n\nExamples:\n  dnn export model.dnn --format json -o model.json\n  dnn export model.dnn --format onnx -o model.onnx");
        command.Arguments.Add(model);
        command.Options.Add(format);
        command.Options.Add(output);
        command.SetAction(parse =>
        {
            string path = parse.GetValue(model)!;
            string fmt = parse.GetValue(format)!;
            bool onnx = string.Equals(fmt, "onnx", StringComparison.OrdinalIgnoreCase);
            if (!onnx && !string.Equals(fmt, "json", StringComparison.OrdinalIgnoreCase))
                throw new UserErrorException($"--format '{fmt}' is not supported (supported: json, onnx)");
            var trained = ModelLoader.Load(path);
            string target = parse.GetValue(output) ?? Path.ChangeExtension(path, onnx ? ".onnx" : ".json");
            if (onnx) OnnxExport.Save(target, trained);
            else ModelJson.Save(target, trained);
            stdout.WriteLine($"exported {trained.Spec} to {target}");
            return DnnCli.Ok;
        });
        return command;
    }
}
