using System.Net;
using DistributedNN.Protocol;
using DistributedNN.Transport;
using static DistributedNN.Tests.Transport.TransportTestKit;

namespace DistributedNN.Tests.Transport;

/// <summary>
/// The tcp links' receive paths take a buffer only for a frame the job allows: a result or an order no longer than the
/// codec's bound, weights and gradients of exactly the model's length, this job's frames only. Anything else is read
/// through the channel's small scratch buffer and dropped (a count beyond the channel's MaxCount never gets that far:
/// TensorChannelTests).
/// </summary>
[Trait(TestTiers.Category, TestTiers.Integration)]
public sealed class LinkFrameBoundsTests
{
    private const int Parameters = 1000, Layers = 3;
    private static readonly Guid Job = Guid.NewGuid();
    private static readonly LinkSettings Settings = new(Job, Parameters, Layers, 4);

    private static TensorHeader Frame(TensorKind kind, int count, Guid? job = null) => new(job ?? Job, 1, 0, kind, 0, count);

    [Fact]
    public async Task The_coordinators_end_takes_a_buffer_only_for_a_result_within_the_codecs_bound_and_a_gradient_of_the_models_length()
    {
        await using var pair = await ConnectPairAsync();
        using var link = new TcpWorkerLink(pair.Client, Settings, new GradientBufferPool(Parameters, capacity: 8), new NoEvents());
        int result = WorkFrames.ResultCount(Layers);
        Assert.True(link.TryGetDestination(Frame(TensorKind.Result, result), out var destination));
        Assert.Equal(result, destination.Length);
        Assert.True(link.TryGetDestination(Frame(TensorKind.ShardGradient, Parameters), out destination));
        Assert.Equal(Parameters, destination.Length);

        Assert.False(link.TryGetDestination(Frame(TensorKind.Result, result + 1), out _));
        Assert.False(link.TryGetDestination(Frame(TensorKind.Result, Parameters), out _));
        Assert.False(link.TryGetDestination(Frame(TensorKind.ShardGradient, Parameters + 1), out _));
        Assert.False(link.TryGetDestination(Frame(TensorKind.ShardGradient, Parameters - 1), out _));
        Assert.False(link.TryGetDestination(Frame(TensorKind.ShardGradient, Parameters, Guid.NewGuid()), out _));
        Assert.False(link.TryGetDestination(Frame(TensorKind.Weights, Parameters), out _)); // not something a worker sends
    }

    [Fact]
    public async Task The_workers_end_takes_a_buffer_only_for_an_order_within_the_codecs_bound_and_weights_of_the_models_length()
    {
        await using var endpoint = new DataPlaneEndpoint(IPAddress.Loopback, 0, null, _ => { });
        using var link = new TcpCoordinatorLink(Settings, 1, endpoint, _ => { });
        int order = WorkFrames.OrderCount(WorkCodec.MaxItems);
        Assert.True(link.TryGetDestination(Frame(TensorKind.Order, order), out var destination));
        Assert.Equal(order, destination.Length);
        Assert.True(link.TryGetDestination(Frame(TensorKind.Weights, Parameters), out destination));
        Assert.Equal(Parameters, destination.Length);

        Assert.False(link.TryGetDestination(Frame(TensorKind.Order, order + 1), out _));
        Assert.False(link.TryGetDestination(Frame(TensorKind.Weights, Parameters + 1), out _));
        Assert.False(link.TryGetDestination(Frame(TensorKind.Weights, Parameters, Guid.NewGuid()), out _));
        Assert.False(link.TryGetDestination(Frame(TensorKind.ShardGradient, Parameters), out _)); // not something a coordinator sends
    }

    private sealed class NoEvents : IWorkerLinkEvents
    {
        public void Delivered(IWorkerLink link, WorkResult result, float[]? gradient) { }
        public void Violated(IWorkerLink link, string reason) { }
        public void Lost(IWorkerLink link, string reason) { }
    }
}
