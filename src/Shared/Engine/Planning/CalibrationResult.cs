namespace DistributedNN.Planning;

/// <summary>The fitted figures (<c>CpuShare</c> 1: per the cores they were measured on) and each run with its prediction.</summary>
public sealed record CalibrationResult(MachineFigures Fitted, IReadOnlyList<CalibratedRun> Runs);
