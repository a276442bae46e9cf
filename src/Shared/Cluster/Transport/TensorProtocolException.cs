namespace DistributedNN.Transport;

/// <summary>
/// The peer sent something that is not a valid tensor frame (bad magic, unsupported version, unknown kind,
/// a float count out of range, …). The byte stream cannot be trusted after that, so the connection is closed.
/// It is an <see cref="IOException"/>, so a caller that treats every connection failure alike can catch that.
/// </summary>
public sealed class TensorProtocolException : IOException
{
    public TensorProtocolException(string message) : base(message) { }
    public TensorProtocolException(string message, Exception inner) : base(message, inner) { }
}
