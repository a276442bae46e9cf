namespace DistributedNN.Data;

/// <summary>
/// Where the worker finds the data: the coordinator's path and options, so every node loads the
/// same thing; a worker started with its own --data uses that path instead (another mount point),
/// and the fingerprint proves the contents are the same.
/// </summary>
/// <param name="ValidationFraction">the part of the (limited) training set held out for validation (<see cref="DatasetSplitter.HoldOut"/>;
/// 0: none): every node trains on the same rest</param>
public sealed record DataRequest(string? Path, double TestFraction, string LabelColumn, int? TrainLimit, string? ImageSize = null, double ValidationFraction = 0);
