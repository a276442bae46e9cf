using System.Net;

namespace DistributedNN.Transport;

/// <summary>
/// The deadlines of a <see cref="TensorChannel"/> after its handshake: a frame being sent that makes no progress for
/// the limit (the peer stopped reading: its receive window and our send buffer are full), or a frame that started
/// arriving and then stops for the limit, is a stalled peer, and <c>onStall</c> is told once (the channel closes).
/// Waiting for the next frame is not watched: a link idle between steps is not a stalled one. The channel marks progress
/// with plain volatile writes; a timer looks at them a few times per limit, so a stall is caught within 1¼ limits.
/// </summary>
internal sealed class StallWatch : IDisposable
{
    private const long Idle = long.MaxValue;
    private readonly TimeSpan _limit;
    private readonly long _limitMs;
    private readonly IPEndPoint _peer;
    private readonly Action<string> _onStall;
    private readonly Timer _timer;
    private long _sendProgress = Idle, _receiveProgress = Idle;
    private int _fired;

    /// <param name="onStall">told once, with a sentence saying what stalled</param>
    public StallWatch(TimeSpan limit, IPEndPoint peer, Action<string> onStall)
    {
        (_limit, _limitMs, _peer) = (limit, (long)limit.TotalMilliseconds, peer);
        _onStall = onStall;
        long period = Math.Clamp(_limitMs / 4, 20, 1000);
        _timer = new Timer(_ => Check(), null, period, period);
    }

    /// <summary>A frame's send started, or some of it left (the next check counts from now).</summary>
    public void SendProgress() => Volatile.Write(ref _sendProgress, Environment.TickCount64);

    /// <summary>The frame was sent, or no frame is being sent.</summary>
    public void SendDone() => Volatile.Write(ref _sendProgress, Idle);

    /// <summary>Bytes of a frame arrived (the first ones of its header, or more of it).</summary>
    public void ReceiveProgress() => Volatile.Write(ref _receiveProgress, Environment.TickCount64);

    /// <summary>The frame is complete: waiting for the next one is idle time.</summary>
    public void ReceiveDone() => Volatile.Write(ref _receiveProgress, Idle);

    private void Check()
    {
        long now = Environment.TickCount64;
        string? stalled = now - Volatile.Read(ref _sendProgress) > _limitMs
            ? $"dropped the connection to {_peer}: a frame to it made no progress for {_limit.TotalSeconds:0.#} s (the peer stopped reading)"
            : now - Volatile.Read(ref _receiveProgress) > _limitMs
                ? $"dropped the connection to {_peer}: a frame from it stopped arriving part-way (nothing for {_limit.TotalSeconds:0.#} s)"
                : null;
        if (stalled is null || Interlocked.Exchange(ref _fired, 1) != 0) return;
        _timer.Dispose();
        _onStall(stalled);
    }

    public void Dispose() => _timer.Dispose();
}
