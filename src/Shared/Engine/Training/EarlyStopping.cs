namespace DistributedNN.Training;

/// <summary>Where early stopping stands, for a checkpoint (its best weights are a block of their own).</summary>
/// <param name="BestLoss">the lowest validation loss so far (+∞ before the first epoch)</param>
/// <param name="BestEpoch">the 1-based epoch that measured it (0: none yet)</param>
/// <param name="EpochsSinceBest">epochs finished since, none of them better</param>
public sealed record EarlyStoppingProgress(double BestLoss, int BestEpoch, int EpochsSinceBest);

/// <summary>
/// Early stopping on the validation loss, as Keras's EarlyStopping(monitor="val_loss", patience=N, restore_best_weights=True):
/// an epoch improves when its validation loss is below the best so far (strictly; NaN never does); the run stops once
/// <see cref="Patience"/> epochs in a row have not, and ends — stopped, or at its last epoch — with the weights of the best
/// epoch, copied here when that epoch was measured. Plain state: <see cref="TrainingState"/> drives it, a checkpoint keeps it.
/// </summary>
public sealed class EarlyStopping
{
    public EarlyStopping(int patience, int parameterCount)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(patience);
        Patience = patience;
        BestParameters = new float[parameterCount];
    }

    public int Patience { get; }
    public double BestLoss { get; private set; } = double.PositiveInfinity;
    public int BestEpoch { get; private set; }
    public int EpochsSinceBest { get; private set; }
    /// <summary>The weights of <see cref="BestEpoch"/> (zeros before it).</summary>
    public float[] BestParameters { get; }

    /// <summary><see cref="Patience"/> epochs without improvement: train no further.</summary>
    public bool Stopped => EpochsSinceBest >= Patience;

    /// <summary>Takes the validation loss of <paramref name="epoch"/>, measured on <paramref name="parameters"/>; true when it is the best so far.</summary>
    public bool Observe(int epoch, double validationLoss, ReadOnlySpan<float> parameters)
    {
        if (parameters.Length != BestParameters.Length) throw new ArgumentException("parameters do not match the network");
        if (!(validationLoss < BestLoss))
        {
            EpochsSinceBest++;
            return false;
        }
        (BestLoss, BestEpoch, EpochsSinceBest) = (validationLoss, epoch, 0);
        parameters.CopyTo(BestParameters);
        return true;
    }

    /// <summary>The best epoch's weights into <paramref name="parameters"/> (before any epoch: left as they are).</summary>
    public void RestoreBest(Span<float> parameters)
    {
        if (BestEpoch > 0) BestParameters.CopyTo(parameters);
    }

    public EarlyStoppingProgress Progress => new(BestLoss, BestEpoch, EpochsSinceBest);

    /// <summary>Puts the state back where a checkpoint left it.</summary>
    /// <exception cref="ArgumentException">The saved state does not fit this network.</exception>
    public void Restore(EarlyStoppingProgress? saved, float[]? bestParameters)
    {
        if (saved is null || bestParameters is null) throw new ArgumentException("the checkpoint has no early-stopping state, which its settings ask for");
        if (bestParameters.Length != BestParameters.Length) throw new ArgumentException($"the checkpoint's best weights are {bestParameters.Length} parameters, not {BestParameters.Length}");
        if (saved.BestEpoch < 0 || saved.EpochsSinceBest < 0) throw new ArgumentException($"the checkpoint's early-stopping state (epoch {saved.BestEpoch}, {saved.EpochsSinceBest} since) is not a position");
        (BestLoss, BestEpoch, EpochsSinceBest) = (saved.BestLoss, saved.BestEpoch, saved.EpochsSinceBest);
        bestParameters.CopyTo(BestParameters, 0);
    }
}
