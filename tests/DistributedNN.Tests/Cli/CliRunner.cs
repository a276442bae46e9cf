using DistributedNN.Coordinator.Cli;

namespace DistributedNN.Tests.Cli;

/// <summary>Runs the real `dnn` command line in process and captures what it prints.</summary>
internal static class CliRunner
{
    public static (int Exit, string Out, string Err) Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int exit = DnnCli.Run(args, stdout, stderr);
        return (exit, stdout.ToString(), stderr.ToString());
    }
}
