namespace DistributedNN.Training;

/// <summary>What one epoch did. Train loss/accuracy are over the epoch's batches as they were trained.</summary>
/// <param name="GradientNorms">per layer, the mean over the epoch's steps of ‖dE/dθ_l‖ (batch-mean gradient)</param>
/// <param name="UpdateRatios">per layer, the mean of ‖Δθ_l‖ / ‖θ_l‖ (absent in results saved before it existed)</param>
/// <param name="Health">per layer, the mean fraction of dead ReLU units or saturated sigmoid/tanh outputs (<see cref="ActivationHealth"/>)</param>
/// <param name="ValidationLoss">the validation set's mean loss at the epoch's end (null: no validation split)</param>
/// <param name="ValidationAccuracy">its accuracy</param>
public sealed record EpochResult(
    int Epoch, long Steps, double TrainLoss, double TrainAccuracy, double TestLoss, double TestAccuracy,
    double TrainSeconds, double SamplesPerSecond, double[] GradientNorms, double[]? UpdateRatios = null, double[]? Health = null,
    double? ValidationLoss = null, double? ValidationAccuracy = null);
