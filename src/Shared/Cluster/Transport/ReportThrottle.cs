namespace DistributedNN.Transport;

/// <summary>
/// Passes at most a number of reports per window on to a callback; the rest are counted, and one report at the window's
/// end says how many were held back. A flood of refused connections so costs the log a few lines a minute. Thread-safe.
/// </summary>
internal sealed class ReportThrottle : IDisposable
{
    private readonly Lock _gate = new();
    private readonly ListenerLimits _limits;
    private readonly string _subject;
    private readonly Action<Exception> _report;
    private readonly Timer _flush;
    private long _windowEnds = long.MinValue;
    private int _passed, _held;
    private bool _disposed;

    /// <param name="subject">what the reports are about, for the summary line ("tensor listener on …")</param>
    public ReportThrottle(ListenerLimits limits, string subject, Action<Exception> report)
    {
        (_limits, _subject, _report) = (limits, subject, report);
        _flush = new Timer(_ => Flush(), null, Timeout.Infinite, Timeout.Infinite);
    }

    public void Report(Exception e)
    {
        Exception? summary = null;
        bool pass;
        lock (_gate)
        {
            long now = Environment.TickCount64;
            if (now >= _windowEnds)
            {
                summary = TakeHeld();
                (_windowEnds, _passed) = (now + (long)_limits.ReportWindow.TotalMilliseconds, 0);
            }
            pass = _passed < _limits.ReportsPerWindow;
            if (pass) _passed++;
            else if (_held++ == 0 && !_disposed) _flush.Change(Math.Max(0, _windowEnds - now), Timeout.Infinite);
        }
        if (summary is not null) _report(summary);
        if (pass) _report(e);
    }

    /// <summary>The count of held-back reports as one report, or null when none were (under the lock).</summary>
    private IOException? TakeHeld()
    {
        if (_held == 0) return null;
        var summary = new IOException($"{_held} more refused or failed connection(s) to the {_subject} within {_limits.ReportWindow.TotalSeconds:0.#} s " +
            $"were not reported one by one (at most {_limits.ReportsPerWindow} are)");
        _held = 0;
        return summary;
    }

    private void Flush()
    {
        IOException? summary;
        lock (_gate) summary = TakeHeld();
        if (summary is not null) _report(summary);
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
            _flush.Dispose();
        }
    }
}
