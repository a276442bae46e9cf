namespace DistributedNN.Hosting;

/// <summary>
/// How a dnn process runs its sockets' completions, set first thing in each program's Main (before any socket exists:
/// .NET reads the setting once, when its socket engine starts).
/// <para>
/// By default .NET hands every socket completion from its epoll thread to the thread pool: a TLS record read is a
/// wake-up of the epoll thread, then of a pool thread (which, idle again, spins through sched_yield before it sleeps).
/// Inline completions run the continuation on the epoll thread itself (one per core). On a worker of the sharded topology
/// at 8 emulated hosts of 0.2 core (about 30 frames of 118 KB a step), held by its CPU quota, that and the pool's spinning
/// off (the programs' runtimeconfig: System.Threading.ThreadPool.UnfairSemaphoreSpinLimit = 0) took the share of its
/// time on pool threads from 65% to 12%, and the run from 13.0–16.5k to 19.5–22.4k samples/s (docs/BENCHMARKS.md,
/// issue 14). The price: a continuation that blocks stalls every socket of the process, so nothing on the data plane's
/// receive path may wait synchronously (docs/ARCHITECTURE.md, docs/DATA_PLANE.md).
/// </para>
/// A value the user set (e.g. DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=0) is kept.
/// </summary>
public static class SocketTuning
{
    public const string InlineCompletions = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    public static void Apply()
    {
        if (Environment.GetEnvironmentVariable(InlineCompletions) is null) Environment.SetEnvironmentVariable(InlineCompletions, "1");
    }
}
