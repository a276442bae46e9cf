using System.CommandLine;
using DistributedNN;
using DistributedNN.Worker;
using DistributedNN.Data;

// dnn-worker: joins a training cluster and computes shard gradients (the same as `dnn worker`).
DistributedNN.Hosting.SocketTuning.Apply(); // before any socket: see its comment
var root = WorkerCommand.Configure(new RootCommand(WorkerCommand.Description));
try
{
    args = WorkerCommand.ExpandConfig(args, root);
}
catch (UserErrorException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 1;
}
var parse = root.Parse(args);
if (parse.Errors.Count > 0)
{
    foreach (var e in parse.Errors) Console.Error.WriteLine($"error: {e.Message}");
    return 2;
}
try
{
    return await parse.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (UserErrorException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 1;
}
