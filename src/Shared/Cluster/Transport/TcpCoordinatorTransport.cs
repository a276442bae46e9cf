namespace DistributedNN.Transport;

/// <summary>Opens a data-plane connection (<see cref="TensorChannel"/>: TLS when configured, the worker's access token) to each worker.</summary>
internal sealed class TcpCoordinatorTransport(LinkSettings settings, GradientBufferPool pool, IWorkerLinkEvents events)
    : CoordinatorTransport(settings, pool, events)
{
    protected override async Task<IWorkerLink> OpenLinkAsync(WorkerContact worker, CancellationToken ct)
    {
        var endpoint = await ResolveAsync(worker, ct).ConfigureAwait(false);
        var options = TensorChannelOptions.ForModel(Settings.ParameterCount) with { Tls = Settings.Tls, AccessToken = worker.AccessToken };
        var channel = await TensorChannel.ConnectAsync(endpoint, options, ct).ConfigureAwait(false);
        return new TcpWorkerLink(channel, Settings, Pool, Events);
    }
}
