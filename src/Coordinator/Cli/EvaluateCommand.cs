using System.CommandLine;
using System.Globalization;
using DistributedNN.Data;
using DistributedNN.Model;
using DistributedNN.Serialization;
using DistributedNN.Training;

namespace DistributedNN.Coordinator.Cli;

/// <summary>`dnn evaluate`: loss and accuracy of a saved model on a data set's test part.</summary>
public static class EvaluateCommand
{
    public static Command Create(TextWriter stdout)
    {
        var model = new Argument<string>("model") { Description = "A model file (or its JSON export)." };
        var data = new Option<string?>("--data") { Description = "Data set, as for train (default: $DNN_DATA, then /usr/share/datasets/fashion-mnist)." };
        var testFraction = new Option<double>("--test-fraction") { Description = "For a single CSV file: the held-out fraction, as given to train (the split follows from it).", DefaultValueFactory = _ => DataSource.DefaultTestFraction };
        var labelColumn = new Option<string>("--label-column") { Description = "For CSV: the label column: first, last or a 1-based number.", DefaultValueFactory = _ => "last" };
        var command = new Command("evaluate", "Report a saved model's test loss and accuracy.\n\nExample:\n  dnn evaluate model.dnn");
        command.Arguments.Add(model);
        command.Options.Add(data);
        command.Options.Add(testFraction);
        command.Options.Add(labelColumn);
        command.SetAction(parse =>
        {
            var trained = ModelLoader.Load(parse.GetValue(model)!);
            double fraction = parse.GetValue(testFraction);
            if (!(fraction > 0 && fraction < 1)) throw new UserErrorException($"--test-fraction must be between 0 and 1 (got {fraction})");
            // the model's own input transform on the raw test rows; a model without one (before format version 3) gets the
            // data's (CSV: standardised with this data's training rows, as before)
            var sets = DataSource.Load(parse.GetValue(data), new DataSourceOptions
            {
                TestFraction = fraction,
                Csv = new CsvOptions { LabelColumn = LabelColumn.Parse(parse.GetValue(labelColumn)!) },
                Standardise = trained.Input is null,
                ImageSize = trained.Spec.InputShape.IsFlat ? null : $"{trained.Spec.InputShape.Width}x{trained.Spec.InputShape.Height}",
            });
            if (sets.Test.FeatureCount != trained.Spec.InputSize)
                throw new UserErrorException($"the model takes {trained.Spec.InputSize} inputs but {sets.Test.Name} has {sets.Test.FeatureCount} features");
            var test = trained.Input?.Apply(sets.Test, sets.Transform) ?? sets.Test;
            var stats = LocalTrainer.Evaluate(new Backprop(trained.Spec, LocalTrainer.EvaluationChunk), trained.Parameters, test);
            stdout.WriteLine(string.Format(CultureInfo.InvariantCulture, "test_loss {0:F4}  test_acc {1:P2}  ({2} samples)",
                stats.LossSum / stats.Count, (double)stats.Correct / stats.Count, stats.Count));
            return DnnCli.Ok;
        });
        return command;
    }
}
