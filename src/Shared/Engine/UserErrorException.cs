namespace DistributedNN;

/// <summary>
/// A problem the user can fix (a bad option, a missing or corrupt file). The message is one
/// sentence that names the file or option and what is wrong; the executables print it as a
/// single line and exit non-zero, never with a stack trace.
/// </summary>
public class UserErrorException(string message, Exception? inner = null) : Exception(message, inner);
