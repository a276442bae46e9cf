namespace DistributedNN.Transport;

/// <summary>
/// Where <see cref="TensorChannel.ReceiveLoopAsync"/> puts incoming tensors. Both methods are called on the
/// receive loop, one frame at a time, never concurrently for one channel.
/// </summary>
public interface ITensorSink
{
    /// <summary>
    /// Called for each valid header, before any payload byte is read. Return true with the buffer the payload is
    /// read into (its length must equal <see cref="TensorHeader.Count"/>, otherwise the loop ends with an
    /// <see cref="InvalidOperationException"/>: a programming error). The socket receives straight into that
    /// memory; it must stay untouched by others until <see cref="Received"/> is called.
    /// Return false to refuse the frame (for example a stale step or another job): the channel then reads and
    /// discards the payload through a small fixed scratch buffer and goes on with the next frame.
    /// Throwing ends the receive loop with that exception and closes the connection.
    /// </summary>
    bool TryGetDestination(in TensorHeader header, out Memory<float> destination);

    /// <summary>
    /// Called for each valid header before <see cref="TryGetDestination"/>: a sink that cannot place a frame yet (state the
    /// frame names is still on its way on another connection) may wait here — asynchronously, never blocking the thread:
    /// receive loops run on the socket engine's threads (<see cref="Hosting.SocketTuning"/>), and a blocked one would
    /// hold up every connection of the process, the awaited one too.
    /// </summary>
    ValueTask ReadyAsync(TensorHeader header) => ValueTask.CompletedTask;

    /// <summary>Called once the whole payload is in <paramref name="payload"/> (the memory given by <see cref="TryGetDestination"/>).</summary>
    void Received(in TensorHeader header, Memory<float> payload);
}
