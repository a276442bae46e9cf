using DistributedNN.Protocol;

namespace DistributedNN.Transport;

/// <summary>
/// A worker on this machine: orders into its mailbox; a thread of its own (dnn-shm-results) sleeps until the worker
/// posts a result, copies the shard's gradient out of the worker's file (so the worker may reuse the region, and the
/// copy overlaps the other workers' compute) and delivers both. It takes no more results than the items it was sent
/// (<see cref="_unanswered"/>): a worker that posts more, or publishes a counter out of its ring's bounds, broke the
/// protocol, and its mailbox closes.
/// </summary>
internal sealed class ShmWorkerLink : IWorkerLink
{
    private readonly SharedTensorFile _weights, _gradients;
    private readonly SharedMailbox _mailbox;
    private readonly LinkSettings _settings;
    private readonly GradientBufferPool _pool;
    private readonly IWorkerLinkEvents _events;
    private readonly Thread _reader;
    private volatile bool _closing;
    private int _ends; // the reader's end and Dispose: the second one frees the files
    private long _weightsSent = -1, _bytesSent, _bytesReceived;
    private int _unanswered; // items sent and not yet answered by a result: what bounds the results (and pool buffers) a worker can cause

    public ShmWorkerLink(SharedTensorFile weights, SharedTensorFile gradients, SharedMailbox mailbox, LinkSettings settings,
        GradientBufferPool pool, IWorkerLinkEvents events)
    {
        (_weights, _gradients, _mailbox, _settings, _pool, _events) = (weights, gradients, mailbox, settings, pool, events);
        Files = new SharedFiles(weights.Path, gradients.Path, mailbox.Path);
        _reader = new Thread(ReadResults) { IsBackground = true, Name = "dnn-shm-results" };
        _reader.Start();
    }

    public SharedFiles? Files { get; }
    public long BytesSent => Interlocked.Read(ref _bytesSent);
    public long BytesReceived => Interlocked.Read(ref _bytesReceived);
    public Task Flushed => Task.CompletedTask;

    public void SendWeights(long step, long version, float[] weights)
    {
        if (_weightsSent == version) return;
        // written once per version for every worker on this machine; each reads them in place
        if (_weights.Version != version)
        {
            _weights.BeginWrite();
            weights.CopyTo(_weights.Region(0));
            _weights.EndWrite(version);
        }
        Interlocked.Add(ref _bytesSent, (long)weights.Length * sizeof(float));
        _weightsSent = version;
    }

    public void SendFrame(TensorHeader header, ReadOnlyMemory<float> payload) => throw new NotSupportedException(ShardedNeedsTcp);

    public void WeightsHeld(long version) => throw new NotSupportedException(ShardedNeedsTcp);

    private const string ShardedNeedsTcp = "the sharded topology needs the tcp transport";

    public string? SendOrder(WorkOrder order)
    {
        Interlocked.Add(ref _unanswered, order.Items.Length); // before the worker can answer
        if (_mailbox.TryPostOrder(order)) return null;
        Interlocked.Add(ref _unanswered, -order.Items.Length);
        return _mailbox.IsClosed ? "it closed its mailbox" : $"it left {SharedMailbox.Slots} orders unread";
    }

    public void Receive(TensorChunk chunk) { }

    private void ReadResults()
    {
        string? violation = null;
        while (!_mailbox.IsClosed)
        {
            if (_mailbox.TryTakeResult() is not { } result)
            {
                _mailbox.WaitForResult(250);
                continue;
            }
            if (Interlocked.Decrement(ref _unanswered) < 0)
            {
                violation = "it posted more results than it was sent items";
                _mailbox.Close();
                break;
            }
            float[]? gradient = null;
            if (result.Kind == WorkKind.Shards && (uint)result.Item < (uint)_gradients.Regions && result.GradientLength == _pool.Length)
            {
                gradient = _pool.Rent();
                _gradients.Region(result.Item).CopyTo(gradient);
                Interlocked.Add(ref _bytesReceived, (long)gradient.Length * sizeof(float));
            }
            _events.Delivered(this, result, gradient);
        }
        violation ??= _mailbox.Violation;
        if (violation is not null && !_closing)
        {
            _events.Violated(this, violation);
            _events.Lost(this, $"its mailbox closed: {violation}");
        }
        // the worker closed it (it is stopping): its shards need not wait for the cluster to notice
        else if (!_closing) _events.Lost(this, "it closed its mailbox");
        End();
    }

    /// <summary>
    /// Ends the mailbox (and so the reader and the worker's order thread); the worker's files are unmapped and deleted by
    /// whichever ends last, this or the reader (it may be copying from the gradient file): the caller never waits.
    /// </summary>
    public void Dispose()
    {
        _closing = true;
        _mailbox.Close();
        End();
    }

    private void End()
    {
        if (Interlocked.Increment(ref _ends) != 2) return;
        _mailbox.Dispose();
        _gradients.Dispose();
    }
}
