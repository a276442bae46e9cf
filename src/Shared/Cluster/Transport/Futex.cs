using System.Runtime.InteropServices;

namespace DistributedNN.Transport;

/// <summary>
/// Waiting on a 32-bit word in shared memory until another process changes it: Linux's futex (not the
/// process-private kind, so it works across processes that map the same file), on x64 and arm64. Elsewhere
/// a poll that yields and then sleeps a millisecond at a time: slower to wake, the same semantics.
/// </summary>
public static unsafe class Futex
{
    private const int FutexWait = 0, FutexWake = 1;

    /// <summary>The syscall number of futex, or 0 where the poll stands in.</summary>
    private static readonly long SysFutex = !OperatingSystem.IsLinux() ? 0 : RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.X64 => 202,
        Architecture.Arm64 => 98,
        _ => 0,
    };

    /// <summary>Whether waits poll rather than block in the kernel: where there is no futex, and in the tests of that path.</summary>
    internal static bool Poll { get; set; } = SysFutex == 0;

    [StructLayout(LayoutKind.Sequential)]
    private struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    // syscall(2) is variadic; on x64 and arm64 Linux its integer arguments travel in the same registers as fixed ones
    [DllImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static extern long Syscall(long number, int* address, int op, int value, Timespec* timeout, int* address2, int value3);

    /// <summary>
    /// Blocks while <c>*word == expected</c>, at most <paramref name="timeoutMs"/> ms; returns at once if it already differs.
    /// May return early (a wake for another value, a signal): callers re-read the word and loop.
    /// </summary>
    public static void Wait(int* word, int expected, int timeoutMs)
    {
        if (Volatile.Read(ref *word) != expected) return;
        if (!Poll)
        {
            var timeout = new Timespec { Seconds = timeoutMs / 1000, Nanoseconds = timeoutMs % 1000 * 1_000_000L };
            Syscall(SysFutex, word, FutexWait, expected, &timeout, null, 0);
            return;
        }
        var spin = new SpinWait();
        long until = Environment.TickCount64 + timeoutMs;
        while (Volatile.Read(ref *word) == expected && Environment.TickCount64 < until)
        {
            if (spin.NextSpinWillYield && spin.Count > 20) Thread.Sleep(1);
            else spin.SpinOnce(sleep1Threshold: -1);
        }
    }

    /// <summary>Wakes the waiters on <paramref name="word"/> (after the caller changed it).</summary>
    public static void WakeAll(int* word)
    {
        if (!Poll) Syscall(SysFutex, word, FutexWake, int.MaxValue, null, null, 0);
    }
}
