using DistributedNN.Coordinator.Cli;

return DnnCli.Run(args, Console.Out, Console.Error);
