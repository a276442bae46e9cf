using System.Diagnostics.CodeAnalysis;

namespace DistributedNN.Transport;

/// <summary>
/// Puts the <see cref="TensorChunk"/>s of one tensor (one <see cref="TensorHeader"/>) back together in a destination
/// buffer, in any arrival order, and tells when every float has arrived exactly once. A chunk of another tensor,
/// one reaching outside the tensor, or one overlapping floats already received (a duplicate) is refused with a
/// reason and leaves the buffer untouched. Not thread-safe: feed it from one actor.
/// </summary>
public sealed class TensorAssembler
{
    private readonly Memory<float> _destination;
    private readonly List<(int Start, int End)> _received = []; // disjoint, sorted by Start
    private long _receivedFloats;

    /// <param name="header">The tensor expected; chunks must carry exactly this header.</param>
    /// <param name="destination">Where the floats go; its length must be header.Count.</param>
    public TensorAssembler(TensorHeader header, Memory<float> destination)
    {
        if (TensorFrame.Validate(header, int.MaxValue) is { } invalid)
            throw new ArgumentException($"invalid tensor header ({header}): {invalid}", nameof(header));
        if (destination.Length != header.Count)
            throw new ArgumentException($"a destination of {destination.Length} floats for a tensor of {header.Count}", nameof(destination));
        Header = header;
        _destination = destination;
    }

    /// <summary>The tensor being assembled.</summary>
    public TensorHeader Header { get; }

    /// <summary>The destination buffer.</summary>
    public Memory<float> Destination => _destination;

    /// <summary>Floats received so far.</summary>
    public long ReceivedFloats => _receivedFloats;

    /// <summary>Chunks accepted so far.</summary>
    public int ChunksAccepted { get; private set; }

    /// <summary>
    /// True when every float of the tensor has arrived (exactly once: overlapping chunks are refused).
    /// An empty tensor is complete once its (empty) chunk has arrived.
    /// </summary>
    public bool IsComplete => _receivedFloats == Header.Count && (Header.Count > 0 || ChunksAccepted > 0);

    /// <summary>
    /// Copies <paramref name="chunk"/> into place. False, with a one-line <paramref name="rejection"/>, when the chunk
    /// belongs to another tensor, lies outside it, overlaps floats already received, or is empty for a non-empty
    /// tensor; the destination is then left as it was.
    /// </summary>
    public bool TryAdd(TensorChunk chunk, [NotNullWhen(false)] out string? rejection)
    {
        ArgumentNullException.ThrowIfNull(chunk);
        if (chunk.Header != Header)
        {
            rejection = $"chunk of another tensor ({chunk.Header}), expected {Header}";
            return false;
        }
        int offset = chunk.Offset, length = chunk.Values?.Length ?? 0;
        if (chunk.Values is null)
        {
            rejection = "chunk without values";
            return false;
        }
        if (TensorChunkSerializer.CheckRange(Header.Count, offset, length) is { } rangeError)
        {
            rejection = $"chunk at {offset} of {length} floats: {rangeError}";
            return false;
        }
        if (length == 0)
        {
            if (Header.Count == 0 && ChunksAccepted == 0)
            {
                ChunksAccepted = 1;
                rejection = null;
                return true;
            }
            rejection = Header.Count == 0 ? "duplicate empty chunk" : $"empty chunk at {offset} for a tensor of {Header.Count} floats";
            return false;
        }

        int end = offset + length;
        int index = InsertionIndex(offset);
        // index: the first interval starting after offset; the one before it may reach into [offset, end)
        if (index > 0 && _received[index - 1].End > offset)
        {
            rejection = $"chunk [{offset}, {end}) overlaps floats already received [{_received[index - 1].Start}, {_received[index - 1].End}) (a duplicate?)";
            return false;
        }
        if (index < _received.Count && _received[index].Start < end)
        {
            rejection = $"chunk [{offset}, {end}) overlaps floats already received [{_received[index].Start}, {_received[index].End}) (a duplicate?)";
            return false;
        }

        chunk.Values.AsSpan().CopyTo(_destination.Span.Slice(offset, length));
        _received.Insert(index, (offset, end));
        _receivedFloats += length;
        ChunksAccepted++;
        rejection = null;
        return true;
    }

    /// <summary><see cref="TryAdd"/>, throwing <see cref="TensorProtocolException"/> with the reason on refusal; returns <see cref="IsComplete"/>.</summary>
    public bool Add(TensorChunk chunk) =>
        TryAdd(chunk, out string? rejection) ? IsComplete : throw new TensorProtocolException(rejection);

    /// <summary>The index of the first received interval whose start is greater than <paramref name="offset"/>.</summary>
    private int InsertionIndex(int offset)
    {
        int lo = 0, hi = _received.Count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_received[mid].Start <= offset) lo = mid + 1;
            else hi = mid;
        }
        return lo;
    }
}
