namespace DistributedNN.Transport;

/// <summary>
/// A piece of a tensor for the fallback transport over Akka.Remote: floats
/// [<see cref="Offset"/>, <see cref="Offset"/> + Values.Length) of the tensor <see cref="Header"/> describes
/// (Header.Count is the whole tensor's length). Made by <see cref="TensorChunker.Split"/>, put back together by
/// <see cref="TensorAssembler"/>, serialized by <see cref="TensorChunkSerializer"/> as raw bytes.
/// </summary>
public sealed record TensorChunk(TensorHeader Header, int Offset, float[] Values);
