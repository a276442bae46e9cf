using DistributedNN.Protocol;

namespace DistributedNN.Transport;

/// <summary>
/// A worker's end of the shm transport: orders from its mailbox (sleeping on the futex until one is posted), the weights
/// read in place from the coordinator's file, gradients written straight into this worker's file, results posted to the
/// mailbox. A result is posted only if the weights file still holds the order's version after the computation (the
/// seqlock): otherwise the coordinator has moved on and handed the shard to another worker.
/// </summary>
internal sealed class ShmCoordinatorLink : ICoordinatorLink
{
    private readonly SharedTensorFile _weights, _gradients;
    private readonly SharedMailbox _mailbox;
    private readonly Lock _gate = new();
    private bool _disposed;

    private ShmCoordinatorLink(SharedTensorFile weights, SharedTensorFile gradients, SharedMailbox mailbox) =>
        (_weights, _gradients, _mailbox) = (weights, gradients, mailbox);

    /// <exception cref="UserErrorException">
    /// The files are not the shm transport's (names outside <see cref="SharedTensorFile.Folder"/>), or cannot be opened: the worker is
    /// not on the coordinator's machine (or runs as another user), or they are links, another user's or open to others.
    /// </exception>
    public static ShmCoordinatorLink Open(SharedFiles? files, LinkSettings settings)
    {
        if (files is null) throw new UserErrorException("the shm transport needs the shared-memory file names");
        // a job may name only the transport's own files: nothing else of this user's is mapped and written
        if (new[] { files.Weights, files.Gradients, files.Mailbox }.FirstOrDefault(f => !SharedFileNames.IsShared(f)) is { } stranger)
            throw new UserErrorException($"the job names '{stranger}' as a shared-memory file: only the transport's dnn-* files in {SharedTensorFile.Folder} are opened");
        SharedTensorFile? weights = null, gradients = null;
        try
        {
            weights = SharedTensorFile.Open(files.Weights, 1, settings.ParameterCount);
            gradients = SharedTensorFile.Open(files.Gradients, settings.Shards, settings.ParameterCount);
            return new ShmCoordinatorLink(weights, gradients, SharedMailbox.Open(files.Mailbox, settings.Layers));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            weights?.Dispose();
            gradients?.Dispose();
            throw new UserErrorException($"--transport shm needs the workers on the coordinator's machine (as the same user): {e.Message}");
        }
    }

    public bool IsClosed => _mailbox.IsClosed;

    public WorkOrder? TakeOrder(int timeoutMs)
    {
        if (_mailbox.TryTakeOrder() is { } order) return order;
        _mailbox.WaitForOrder(timeoutMs);
        return _mailbox.TryTakeOrder();
    }

    public ReadOnlyMemory<float>? Weights(long version) => _weights.Version == version ? _weights.RegionMemory(0) : null;

    public Memory<float> GradientBuffer(int shard, int lane) => _gradients.RegionMemory(shard);

    public bool Send(WorkResult result, int lane)
    {
        // weights rewritten while we computed: the order is stale (its shards went to others)
        if (_weights.Version != result.Version) return true;
        Interlocked.MemoryBarrier(); // the gradient is in the file before the result says so
        while (!_mailbox.TryPostResult(result))
        {
            if (_mailbox.IsClosed) return false;
            Thread.Sleep(1); // the coordinator has not taken 64 results yet
        }
        return true;
    }

    public void Receive(TensorChunk chunk) { }

    /// <summary>From any thread: no more orders (a no-op once the files are unmapped).</summary>
    public void Close()
    {
        lock (_gate)
            if (!_disposed) _mailbox.Close();
    }

    /// <summary>Unmaps the files: by the order loop, once it ended (it may have been writing a gradient).</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _mailbox.Close();
            _disposed = true;
        }
        _mailbox.Dispose();
        _weights.Dispose();
        _gradients.Dispose();
    }
}
