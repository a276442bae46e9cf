using DistributedNN.Coordinator.Cli;

DistributedNN.Hosting.SocketTuning.Apply(); // before any socket: see its comment

return DnnCli.Run(args, Console.Out, Console.Error);
