namespace DistributedNN.Numerics;

/// <summary>
/// Buffers for the kernels: pinned (they never move, so their address stays valid while their array lives) and starting
/// on a 64-byte boundary — a cache line, and one 512-bit register — so that a row whose length is a multiple of 16 floats
/// is loaded without straddling lines, whatever else the process has allocated.
/// </summary>
internal static unsafe class Pinned
{
    private const int Alignment = 64;

    /// <summary>An array holding <paramref name="length"/> floats from <paramref name="address"/> on; the caller keeps the array.</summary>
    public static float[] Floats(long length, out float* address)
    {
        var array = GC.AllocateArray<float>((int)length + Alignment / sizeof(float), pinned: true);
        nint first = (nint)System.Runtime.CompilerServices.Unsafe.AsPointer(ref array[0]);
        address = (float*)((first + Alignment - 1) & ~(nint)(Alignment - 1));
        return array;
    }
}
