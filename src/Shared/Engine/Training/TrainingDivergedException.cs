namespace DistributedNN.Training;

/// <summary>The loss became NaN or infinite: training cannot go on with these settings.</summary>
public sealed class TrainingDivergedException(string message) : UserErrorException(message);
