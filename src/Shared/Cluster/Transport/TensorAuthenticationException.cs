namespace DistributedNN.Transport;

/// <summary>A data-plane connection refused in its opening handshake (TLS or credentials).</summary>
public sealed class TensorAuthenticationException(string message, Exception? inner = null) : IOException(message, inner);
