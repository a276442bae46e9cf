namespace DistributedNN.Transport;

/// <summary>
/// Shared memory for workers on this machine: one weights file for the job (written once per version, read in place by
/// every worker), and per worker a gradient file (a region per shard) and a mailbox (<see cref="SharedMailbox"/>), each
/// under a new unguessable name (<see cref="SharedFileNames"/>). Starting, it sweeps the files of runs that were killed.
/// </summary>
internal sealed class ShmCoordinatorTransport : CoordinatorTransport
{
    private readonly SharedTensorFile _weights;
    private int _files;

    public ShmCoordinatorTransport(LinkSettings settings, GradientBufferPool pool, IWorkerLinkEvents events) : base(settings, pool, events)
    {
        SharedFileNames.SweepDeadRuns(SharedTensorFile.Folder);
        _weights = SharedTensorFile.Create(SharedFileNames.New("weights"), 1, settings.ParameterCount);
    }

    protected override Task<IWorkerLink> OpenLinkAsync(WorkerContact worker, CancellationToken ct)
    {
        int index = Interlocked.Increment(ref _files);
        SharedTensorFile? gradients = null;
        try
        {
            gradients = SharedTensorFile.Create(SharedFileNames.New($"gradients-{index}"), Settings.Shards, Settings.ParameterCount);
            var mailbox = SharedMailbox.Create(SharedFileNames.New($"mailbox-{index}"), Settings.Layers);
            return Task.FromResult<IWorkerLink>(new ShmWorkerLink(_weights, gradients, mailbox, Settings, Pool, Events));
        }
        catch
        {
            gradients?.Dispose();
            throw;
        }
    }

    protected override void DisposeShared() => _weights.Dispose();
}
