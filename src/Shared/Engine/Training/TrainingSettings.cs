namespace DistributedNN.Training;

/// <summary>Settings of a training run (the parts that define its mathematics).</summary>
/// <param name="ClipNorm">clip each step's gradient (the batch mean) to this global L2 norm, as torch.nn.utils.clip_grad_norm_
/// (0: no clipping)</param>
/// <param name="Augment">random crops and flips of the training images (null: none)</param>
/// <param name="LabelSmoothing">cross-entropy's targets (1 − ε)·one-hot + ε/K in training (torch's label_smoothing)</param>
/// <param name="ValidationFraction">the part of the training set held out and measured after every epoch (0: none;
/// <see cref="Data.DatasetSplitter.HoldOut"/>): the run trains on the rest</param>
/// <param name="EarlyStoppingPatience">stop after this many epochs without a lower validation loss, keeping the best epoch's
/// weights (<see cref="EarlyStopping"/>; 0: train every epoch)</param>
public sealed record TrainingSettings(int Epochs, int BatchSize, int Shards, ulong Seed, bool Shuffle, OptimizerSettings Optimizer, float ClipNorm = 0f,
    Augmentation? Augment = null, float LabelSmoothing = 0f, double ValidationFraction = 0, int EarlyStoppingPatience = 0)
{
    [System.Text.Json.Serialization.JsonIgnore]
    public Augmentation Augmentation => Augment ?? new Augmentation();

    public void Validate()
    {
        if (Epochs < 0) throw new UserErrorException($"--epochs must be zero or more (got {Epochs})");
        if (BatchSize <= 0) throw new UserErrorException($"--batch must be at least 1 (got {BatchSize})");
        if (Shards <= 0) throw new UserErrorException($"--shards must be at least 1 (got {Shards})");
        if (Shards > BatchSize) throw new UserErrorException($"--shards ({Shards}) cannot exceed --batch ({BatchSize})");
        if (!(LabelSmoothing >= 0 && LabelSmoothing < 1)) throw new UserErrorException($"--label-smoothing must be in [0, 1) (got {LabelSmoothing})");
        if (!(ClipNorm >= 0) || float.IsInfinity(ClipNorm)) throw new UserErrorException($"--clip-norm must be a positive number, or 0 for none (got {ClipNorm})");
        if (!(ValidationFraction >= 0 && ValidationFraction < 1)) throw new UserErrorException($"--validation-fraction must be greater than 0 and less than 1, or 0 for none (got {ValidationFraction})");
        if (EarlyStoppingPatience < 0) throw new UserErrorException($"--early-stopping must be a number of epochs of at least 1, or 0 for none (got {EarlyStoppingPatience})");
        if (EarlyStoppingPatience > 0 && ValidationFraction == 0)
            throw new UserErrorException("--early-stopping watches the validation loss: give --validation-fraction too (e.g. --validation-fraction 0.1)");
        Optimizer.Validate();
    }
}
