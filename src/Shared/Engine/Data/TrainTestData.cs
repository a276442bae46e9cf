namespace DistributedNN.Data;

/// <summary>A training set and the test set it is measured on.</summary>
public sealed record TrainTestData(Dataset Train, Dataset Test, string Source);
