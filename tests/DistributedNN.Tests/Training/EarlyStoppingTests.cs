using DistributedNN.Data;
using DistributedNN.Model;
using DistributedNN.Serialization;
using DistributedNN.Training;

namespace DistributedNN.Tests.Training;

/// <summary>
/// Early stopping on a validation split: the rule on its own (patience, ties, NaN), and real runs of the single-process
/// trainer that stop, or reach their last epoch, and end with the weights of the epoch whose validation loss was lowest;
/// its state through a checkpoint.
/// </summary>
public sealed class EarlyStoppingTests
{
    [Fact]
    public void The_rule_stops_after_patience_epochs_without_a_strictly_lower_loss_and_keeps_the_best_weights()
    {
        var stopping = new EarlyStopping(patience: 2, parameterCount: 1);
        // epoch e is measured on the weights [e]; a tie (epoch 5) is no improvement
        double[] losses = [0.9, 0.7, 0.75, 0.6, 0.6, 0.65, 0.1];
        var improved = new List<bool>();
        int epoch = 0;
        while (!stopping.Stopped)
        {
            epoch++;
            improved.Add(stopping.Observe(epoch, losses[epoch - 1], [epoch]));
        }
        Assert.Equal(new[] { true, true, false, true, false, false }, improved);
        Assert.Equal(6, epoch); // the 0.1 of epoch 7 is never seen
        Assert.Equal(new EarlyStoppingProgress(0.6, 4, 2), stopping.Progress);
        var weights = new float[] { 6 };
        stopping.RestoreBest(weights);
        Assert.Equal(new[] { 4f }, weights);
    }

    [Fact]
    public void A_NaN_loss_never_improves_and_with_no_best_epoch_the_weights_stay()
    {
        var stopping = new EarlyStopping(patience: 1, parameterCount: 2);
        Assert.False(stopping.Observe(1, double.NaN, [1, 2]));
        Assert.True(stopping.Stopped);
        Assert.Equal(0, stopping.BestEpoch);
        var weights = new float[] { 3, 4 };
        stopping.RestoreBest(weights);
        Assert.Equal(new[] { 3f, 4f }, weights);
    }

    /// <summary>Noise: labels that do not depend on the features, so a network soon fits the training samples and not the validation ones.</summary>
    private static (Dataset Train, Dataset Validation, Dataset Test) Noise()
    {
        var rng = new Random(7);
        const int count = 200, features = 8;
        var x = Enumerable.Range(0, count * features).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var labels = Enumerable.Range(0, count).Select(_ => rng.Next(2)).ToArray();
        var all = new Dataset("noise", x, labels, features, 2);
        var (train, test) = DatasetSplitter.Split(all, 0.2, seed: 1);
        var (rest, validation) = DatasetSplitter.HoldOut(train, 0.25);
        return (rest, validation, test);
    }

    private static (LocalTrainer Trainer, float[] Parameters) Trainer(int epochs, int patience)
    {
        var spec = NetworkSpec.FromSizes([8, 32, 2], Activation.ReLU, Activation.Softmax, LossKind.CrossEntropy);
        var parameters = new float[spec.ParameterCount];
        Initializer.Initialize(spec, parameters, InitScheme.He, 3);
        var settings = new TrainingSettings(epochs, 16, 2, 5, true, new OptimizerSettings(OptimizerKind.Adam, 0.02f),
            ValidationFraction: 0.25, EarlyStoppingPatience: patience);
        return (new LocalTrainer(spec, parameters, settings), parameters);
    }

    [Fact]
    public void A_run_that_overfits_stops_patience_epochs_after_its_best_and_ends_with_that_epochs_weights()
    {
        var (train, validation, test) = Noise();
        var (trainer, parameters) = Trainer(epochs: 40, patience: 3);
        var afterEpoch = new List<float[]>();
        var epochs = trainer.Train(train, test, _ => afterEpoch.Add((float[])parameters.Clone()), validation: validation);

        var losses = epochs.Select(e => e.ValidationLoss!.Value).ToList();
        int best = losses.IndexOf(losses.Min()) + 1;
        Assert.True(epochs.Count < 40, $"noise labels should overfit well before 40 epochs: {string.Join(", ", losses)}");
        Assert.Equal(best + 3, epochs.Count);
        Assert.True(trainer.State!.Finished);
        Assert.Equal(new EarlyStoppingProgress(losses[best - 1], best, 3), trainer.State.EarlyStopping!.Progress);
        // the weights are those the best epoch was measured on, not those the run trained on after it
        Assert.Equal(afterEpoch[best - 1], parameters);
        Assert.NotEqual(afterEpoch[best - 1], afterEpoch[best]);
        var stats = trainer.Evaluate(validation);
        Assert.Equal(losses[best - 1], stats.LossSum / stats.Count);
    }

    [Fact]
    public void A_run_that_reaches_its_last_epoch_also_ends_with_the_best_epochs_weights()
    {
        var (train, validation, test) = Noise();
        var (trainer, parameters) = Trainer(epochs: 8, patience: 100);
        var epochs = trainer.Train(train, test, validation: validation);

        Assert.Equal(8, epochs.Count);
        var losses = epochs.Select(e => e.ValidationLoss!.Value).ToList();
        Assert.True(losses.IndexOf(losses.Min()) < 7, $"the last epoch should not be the best on noise: {string.Join(", ", losses)}");
        var stats = trainer.Evaluate(validation);
        Assert.Equal(losses.Min(), stats.LossSum / stats.Count);
        Assert.Equal(trainer.State!.EarlyStopping!.BestParameters, parameters);
    }

    [Fact]
    public void A_validation_set_must_be_measured_when_the_settings_hold_one_out()
    {
        var (train, _, test) = Noise();
        var (trainer, _) = Trainer(epochs: 2, patience: 1);
        var error = Assert.Throws<ArgumentException>(() => trainer.Train(train, test));
        Assert.Contains("measure it at every epoch's end", error.Message);
    }

    [Fact]
    public void The_early_stopping_state_and_best_weights_go_through_a_checkpoint_and_a_checkpoint_without_them_still_reads()
    {
        var (train, validation, test) = Noise();
        var (trainer, _) = Trainer(epochs: 40, patience: 3);
        trainer.Train(train, test, validation: validation);
        var state = trainer.State!;
        var checkpoint = CheckpointFile.Capture(state, "fp", []);
        var back = CheckpointFile.Decode(CheckpointFile.Encode(checkpoint), "x");
        Assert.Equal(state.EarlyStopping!.BestParameters, back.BestParameters);
        Assert.Equal(state.EarlyStopping.Progress, back.Progress.EarlyStopping);
        var restored = CheckpointFile.Restore(back, train.Count);
        Assert.Equal(state.EarlyStopping.Progress, restored.EarlyStopping!.Progress);
        Assert.Equal(state.EarlyStopping.BestParameters, restored.EarlyStopping.BestParameters);
        Assert.True(restored.Finished); // stopped: a resume trains nothing more

        // without early stopping: three blocks, as before it existed
        var plain = checkpoint with { Settings = checkpoint.Settings with { EarlyStoppingPatience = 0 }, BestParameters = null, Progress = checkpoint.Progress with { EarlyStopping = null } };
        var bytes = CheckpointFile.Encode(plain);
        Assert.True(CheckpointFile.Encode(checkpoint).Length - bytes.Length >= 4 + 4 * checkpoint.BestParameters!.Length);
        Assert.Null(CheckpointFile.Decode(bytes, "x").BestParameters);
        // early stopping asked for, its state missing: not a checkpoint of this run
        var missing = CheckpointFile.Decode(CheckpointFile.Encode(checkpoint with { BestParameters = null }), "x");
        var refused = Assert.Throws<DataFormatException>(() => CheckpointFile.Restore(missing, train.Count));
        Assert.Contains("no early-stopping state", refused.Message);
    }
}
