namespace DistributedNN.Transport;

/// <summary>
/// Opens a data-plane connection (<see cref="TensorChannel"/>: TLS when configured, the worker's access token) to each
/// worker. Each link sends on its own connection without waiting (a send that cannot go on waits there, not here), and a
/// link whose frame makes no progress for <see cref="LinkSettings.StallTimeout"/> closes and is reported lost.
/// </summary>
internal sealed class TcpCoordinatorTransport(LinkSettings settings, GradientBufferPool pool, IWorkerLinkEvents events)
    : CoordinatorTransport(settings, pool, events)
{
    protected override async Task<IWorkerLink> OpenLinkAsync(WorkerContact worker, CancellationToken ct)
    {
        var endpoint = await ResolveAsync(worker, ct).ConfigureAwait(false);
        var options = TensorChannelOptions.ForModel(Settings.ParameterCount) with { Tls = Settings.Tls, AccessToken = worker.AccessToken };
        if (Settings.StallTimeout is { } stall) options = options with { StallTimeout = stall };
        var channel = await TensorChannel.ConnectAsync(endpoint, options, ct).ConfigureAwait(false);
        return new TcpWorkerLink(channel, Settings, Pool, Events);
    }
}
