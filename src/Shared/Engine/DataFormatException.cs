namespace DistributedNN;

/// <summary>A data, model or checkpoint file that cannot be read: missing, truncated, corrupt, wrong format.</summary>
public sealed class DataFormatException(string message, Exception? inner = null) : UserErrorException(message, inner);
