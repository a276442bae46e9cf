namespace DistributedNN.Data;

/// <summary>
/// Where the worker finds the data: the coordinator's path and options, so every node loads the
/// same thing; a worker started with its own --data uses that path instead (another mount point),
/// and the fingerprint proves the contents are the same.
/// </summary>
public sealed record DataRequest(string? Path, double TestFraction, string LabelColumn, int? TrainLimit, string? ImageSize = null);
