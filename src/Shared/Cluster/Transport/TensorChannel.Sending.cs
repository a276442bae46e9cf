namespace DistributedNN.Transport;

/// <summary>A <see cref="TensorChannel"/>'s writes to its stream (under its send lock).</summary>
public sealed partial class TensorChannel
{
    /// <summary>
    /// The header, then <paramref name="payload"/>: where the stream seals records, the header's record and the payload's
    /// first leave in one socket write (the same records as two writes).
    /// </summary>
    private async ValueTask SendHeaderWithAsync(ReadOnlyMemory<byte> payload, CancellationToken ct)
    {
        if (_stream is not SealedStream sealedStream)
        {
            await SendAllAsync(_sendHeader, ct).ConfigureAwait(false);
            await SendAllAsync(payload, ct).ConfigureAwait(false);
            return;
        }
        int first = Math.Min(payload.Length, SendPieceBytes);
        _watch?.SendProgress();
        await sealedStream.WriteAsync(_sendHeader, payload[..first], ct).ConfigureAwait(false);
        await SendAllAsync(payload[first..], ct).ConfigureAwait(false);
    }

    private async ValueTask SendAllAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct)
    {
        for (int offset = 0; offset < buffer.Length; offset += SendPieceBytes)
        {
            _watch?.SendProgress();
            await _stream.WriteAsync(buffer.Slice(offset, Math.Min(SendPieceBytes, buffer.Length - offset)), ct).ConfigureAwait(false);
        }
    }
}
