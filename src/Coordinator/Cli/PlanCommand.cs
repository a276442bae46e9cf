using System.CommandLine;
using DistributedNN.Planning;

namespace DistributedNN.Coordinator.Cli;

/// <summary>
/// `dnn plan`: the cost model's predicted step time and samples/s for a network on 1–64 worker hosts, star and sharded
/// (src/Shared/Engine/Planning), optionally calibrated on measured runs first.
/// </summary>
public static class PlanCommand
{
    public static Command Create(TextWriter stdout)
    {
        var options = new PlanOptions();
        var command = new Command("plan", "Predict step time and samples/s of data-parallel training on 1–64 worker hosts, for the star " +
            "(the coordinator sums every shard's gradient and sends the weights to every worker) and the sharded parameter service " +
            "(a reducer per host sums and updates one slice). step = compute on the busiest host + each phase on its busiest link " +
            "(bytes / link rate + messages × overhead + latency) + the sum and the optimizer; overlap, contention and TCP slow start are " +
            "left out (docs/BENCHMARKS.md, \"Cost model\").\n\nExamples:\n  dnn plan --layers 784,256,128,10 --batch 1024 --shards 8 --link-gbit 10,1\n" +
            "  dnn plan --model-spec examples/cnn.json --batch 256 --gflops 45 --plot cnn.png\n" +
            "  dnn plan --parameters 100000000 --flops-per-sample 6e8 --hosts 8,16,32,64 --csv big.csv\n" +
            "  dnn plan --calibrate measured.tsv");
        options.AddTo(command);
        command.SetAction(parse =>
        {
            var request = options.Read(parse);
            if (request.Calibrate is { } path) request = Calibrated(stdout, request, path);
            var rows = PlanRow.All(request);
            PlanReport.Inputs(stdout, request);
            PlanReport.Table(stdout, rows);
            if (request.Csv is { } csv) Write("--csv", csv, PlanReport.Csv(rows));
            if (request.Plot is { } png) PlanPlot.Save(png, request, rows);
            return DnnCli.Ok;
        });
        return command;
    }

    /// <summary>Fits the compute rate and per-message overhead to the runs in <paramref name="path"/>, prints them, and plans with the fit.</summary>
    private static PlanRequest Calibrated(TextWriter stdout, PlanRequest request, string path)
    {
        var runs = MeasuredRunFile.Read(path);
        var result = Calibration.Fit(runs, request.Network, request.Machine, request.Shape);
        PlanReport.Calibration(stdout, path, result);
        stdout.WriteLine();
        return request with { Machine = result.Fitted with { LinkBytesPerSecond = request.Machine.LinkBytesPerSecond } };
    }

    private static void Write(string option, string path, string text)
    {
        try { File.WriteAllText(path, text); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UserErrorException($"{option} {path}: cannot write it ({e.Message})");
        }
    }
}
