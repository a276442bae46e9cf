namespace DistributedNN.Planning;

/// <summary>A measured run next to the fitted model's prediction; <see cref="Error"/> is (predicted − measured) / measured.</summary>
public sealed record CalibratedRun(MeasuredRun Run, StepPrediction Prediction)
{
    public double Error => Prediction.SamplesPerSecond / Run.SamplesPerSecond - 1;
}
