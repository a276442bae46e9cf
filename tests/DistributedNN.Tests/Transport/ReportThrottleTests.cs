using System.Collections.Concurrent;
using DistributedNN.Transport;

namespace DistributedNN.Tests.Transport;

/// <summary>The listener's reports under a flood: the first few one by one, then one line with the count of the rest.</summary>
public sealed class ReportThrottleTests
{
    [Fact]
    public async Task A_flood_of_reports_passes_the_first_few_then_one_line_counting_the_rest_when_the_window_ends()
    {
        var reports = new ConcurrentQueue<string>();
        var limits = new ListenerLimits { ReportsPerWindow = 3, ReportWindow = TimeSpan.FromSeconds(2) };
        using var throttle = new ReportThrottle(limits, "tensor listener on test", e => reports.Enqueue(e.Message));
        for (int i = 0; i < 50; i++) throttle.Report(new IOException($"refused {i}"));
        Assert.Equal(["refused 0", "refused 1", "refused 2"], reports);

        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (reports.Count < 4) await Task.Delay(20, limit.Token);
        Assert.Equal("47 more refused or failed connection(s) to the tensor listener on test within 2 s were not reported one by one (at most 3 are)",
            reports.Last());

        throttle.Report(new IOException("refused 50")); // a new window
        Assert.Equal(["refused 0", "refused 1", "refused 2", reports.ElementAt(3), "refused 50"], reports);
    }
}
