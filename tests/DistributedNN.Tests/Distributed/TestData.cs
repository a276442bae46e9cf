using System.Collections.Concurrent;
using System.Net;
using DistributedNN.Protocol;
using DistributedNN.Transport;
using DistributedNN.Worker;
using DistributedNN.Data;

namespace DistributedNN.Tests.Distributed;

/// <summary>A small CSV classification problem on disk (class = x0 + x1 &gt; 1), loaded through the real data path.</summary>
internal static class TestData
{
    private static readonly Lazy<string> CsvPath = new(() =>
    {
        string dir = Path.Combine(Path.GetTempPath(), "dnn-distributed-tests");
        Directory.CreateDirectory(dir);
        string path = Path.Combine(dir, $"sum-{Environment.ProcessId}.csv");
        var rng = new Random(11);
        var lines = new List<string> { "a,b,c,d,label" };
        for (int i = 0; i < 600; i++)
        {
            double a = rng.NextDouble(), b = rng.NextDouble(), c = rng.NextDouble(), d = rng.NextDouble();
            lines.Add(FormattableString.Invariant($"{a:F5},{b:F5},{c:F5},{d:F5},{(a + b > 1 ? 1 : 0)}"));
        }
        File.WriteAllLines(path, lines);
        return path;
    });

    public static string Csv => CsvPath.Value;

    public static DataRequest Request => new(Csv, 0.2, "last", null);

    public static DataCache.Entry Load() => DataCache.Load(Request);
}

/// <summary>
/// The test's side of a data-plane connection: a listener standing in for a worker's data plane
/// (or a channel to a real worker's), collecting every frame that arrives.
/// </summary>
internal sealed class FrameCollector : ITensorSink, IAsyncDisposable
{
    private readonly TensorListener? _listener;
    private readonly TaskCompletionSource<TensorChannel> _accepted = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public BlockingCollection<(TensorHeader Header, float[] Payload)> Frames { get; } = new();

    private FrameCollector(bool listen)
    {
        if (listen)
            _listener = new TensorListener(IPAddress.Loopback, 0, channel =>
            {
                _accepted.TrySetResult(channel);
                return channel.ReceiveLoopAsync(this);
            });
    }

    public static FrameCollector Listen() => new(listen: true);

    /// <summary>Connects to a worker's data plane as its coordinator would, with the token of its registration.</summary>
    public static async Task<(FrameCollector Collector, TensorChannel Channel)> ConnectAsync(IPEndPoint endpoint, byte[]? accessToken)
    {
        var collector = new FrameCollector(listen: false);
        var channel = await TensorChannel.ConnectAsync(endpoint, TensorChannelOptions.Default with { AccessToken = accessToken }, CancellationToken.None);
        collector._accepted.SetResult(channel);
        _ = channel.ReceiveLoopAsync(collector);
        return (collector, channel);
    }

    public int Port => _listener!.LocalEndPoint.Port;

    public Task<TensorChannel> Channel => _accepted.Task.WaitAsync(TimeSpan.FromSeconds(30));

    public (TensorHeader Header, float[] Payload) Next(TensorKind kind)
    {
        while (true)
        {
            if (!Frames.TryTake(out var frame, TimeSpan.FromSeconds(30))) throw new TimeoutException($"no {kind} frame within 30 s");
            if (frame.Header.Kind == kind) return frame;
        }
    }

    public bool TryGetDestination(in TensorHeader header, out Memory<float> destination)
    {
        destination = new float[header.Count];
        return true;
    }

    public void Received(in TensorHeader header, Memory<float> payload) => Frames.Add((header, payload.ToArray()));

    public async ValueTask DisposeAsync()
    {
        if (_accepted.Task.IsCompletedSuccessfully) await _accepted.Task.Result.DisposeAsync();
        if (_listener is not null) await _listener.DisposeAsync();
    }
}
