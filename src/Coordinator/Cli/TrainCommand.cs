using System.CommandLine;

namespace DistributedNN.Coordinator.Cli;

/// <summary>`dnn train`: single-process training, one line per epoch.</summary>
public static class TrainCommand
{
    public const string DefaultLayers = "784,256,128,10";

    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var command = new Command("train", "Train a network in this process and report loss and accuracy per epoch.\n\n" +
            "Examples:\n  dnn train\n  dnn train --layers 784,256,128,10 --optimizer sgd --lr 0.1 --batch 128 --epochs 3\n" +
            "  dnn train --activation sigmoid --loss sse --lr 3 --save model.dnn --metrics-out metrics.json\n" +
            "  dnn train --model-spec examples/cnn.json --epochs 5");
        var options = new TrainOptions();
        options.AddTo(command);
        command.SetAction(parse =>
        {
            var request = options.Read(parse);
            if (request.CompareActivations is not null) return ActivationComparison.Execute(request, stdout, stderr);
            return TrainRun.Execute(request, stdout, stderr);
        });
        return command;
    }
}
