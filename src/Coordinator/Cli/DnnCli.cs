using DistributedNN.Configuration;
using System.CommandLine;

namespace DistributedNN.Coordinator.Cli;

/// <summary>
/// The `dnn` command line. Exit codes: 0 done, 1 a problem with the input (files, values),
/// 2 a command line that does not parse. Every problem is one line on stderr starting "error:".
/// </summary>
public static class DnnCli
{
    public const int Ok = 0, InputError = 1, UsageError = 2;

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var root = new RootCommand("DistributedNN: train feedforward neural networks, in one process or on an Akka.NET cluster.");
        var train = TrainCommand.Create(stdout, stderr);
        root.Subcommands.Add(train);
        root.Subcommands.Add(ExportCommand.Create(stdout));
        root.Subcommands.Add(EvaluateCommand.Create(stdout));
        root.Subcommands.Add(PredictCommand.Create(stdout));
        root.Subcommands.Add(InspectCommand.Create(stdout));
        root.Subcommands.Add(CertCommand.Create(stdout));
        root.Subcommands.Add(PlanCommand.Create(stdout));
        var worker = DistributedNN.Worker.WorkerCommand.Create();
        root.Subcommands.Add(worker);

        if (args.Length > 0 && (args[0] == train.Name || args[0] == worker.Name))
        {
            try
            {
                args = args[0] == train.Name
                    ? [train.Name, .. WithSpecTraining(ConfigArguments.Expand(args[1..], train), train)]
                    : [worker.Name, .. DistributedNN.Worker.WorkerCommand.ExpandConfig(args[1..], worker)];
            }
            catch (UserErrorException e)
            {
                stderr.WriteLine($"error: {e.Message}");
                return InputError;
            }
        }
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var error in parse.Errors) stderr.WriteLine($"error: {error.Message}");
            stderr.WriteLine("Run 'dnn --help' (or 'dnn COMMAND --help') for the options.");
            return UsageError;
        }
        try
        {
            return parse.Invoke(new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false });
        }
        catch (UserErrorException e)
        {
            stderr.WriteLine($"error: {e.Message}");
            return InputError;
        }
        catch (OutOfMemoryException)
        {
            stderr.WriteLine("error: out of memory: use a smaller --batch, a smaller network or --train-limit");
            return InputError;
        }
    }

    /// <summary>The --model-spec file's "training" section, the weakest source of `dnn train`'s settings (the recipe).</summary>
    private static string[] WithSpecTraining(string[] args, Command train)
    {
        string? path = null;
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--model-spec" && i + 1 < args.Length) path = args[i + 1];
            else if (args[i].StartsWith("--model-spec=", StringComparison.Ordinal)) path = args[i]["--model-spec=".Length..];
        }
        if (path is null || DistributedNN.Model.ModelSpec.TrainingSection(path) is not { } training) return args;
        return ConfigArguments.AddDefaults(args, train, training, $"--model-spec {path} (\"training\")");
    }
}
