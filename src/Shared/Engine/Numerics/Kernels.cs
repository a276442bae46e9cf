using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace DistributedNN.Numerics;

/// <summary>Which register width the kernels use. <see cref="Auto"/> takes the widest the CPU accelerates.</summary>
public enum KernelPath { Auto, Vector512, Vector256, Scalar }

public static class Kernels
{
    private static KernelPath _path = KernelPath.Auto;

    /// <summary>
    /// The width in force. Settable so that tests (and benchmarks) can run each path; every path
    /// computes each element with the same sequence of roundings, so results agree bit for bit.
    /// </summary>
    public static KernelPath Path
    {
        get => _path;
        set => _path = value == KernelPath.Auto ? Detect() : value;
    }

    static Kernels() => _path = Detect();

    private static KernelPath Detect()
    {
        string? forced = Environment.GetEnvironmentVariable("DNN_KERNEL");
        if (string.Equals(forced, "scalar", StringComparison.OrdinalIgnoreCase)) return KernelPath.Scalar;
        if (string.Equals(forced, "256", StringComparison.OrdinalIgnoreCase) && Vector256.IsHardwareAccelerated) return KernelPath.Vector256;
        if (Vector512.IsHardwareAccelerated && Fma512Works()) return KernelPath.Vector512;
        if (Vector256.IsHardwareAccelerated) return KernelPath.Vector256;
        return KernelPath.Scalar;
    }

    private static bool Fma512Works() => System.Runtime.Intrinsics.X86.Avx512F.IsSupported;

    /// <summary>
    /// An element-wise kernel over n elements at the width in force: whole vectors of the widest width first, then of
    /// 256 bits, then the scalar code for what is left — one source (<typeparamref name="TKernel"/>) at every width.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)] // one method per kernel: short vectors are frequent (a convolution's col2im)
    internal static void Run<TKernel, TArgs>(ref TArgs args, long n) where TKernel : IWidthKernel<TArgs> where TArgs : allows ref struct
    {
        long i = 0;
        if (_path == KernelPath.Vector512) i = TKernel.Run<V512, Vector512<float>>(ref args, i, n);
        if (_path != KernelPath.Scalar) i = TKernel.Run<V256, Vector256<float>>(ref args, i, n);
        TKernel.Run<Scalar, float>(ref args, i, n);
    }

    /// <summary>
    /// A computation over 16 float lanes — a sum, whose shape must not depend on the width — with the path in force
    /// holding them: one 512-bit register, two 256-bit ones (<see cref="V256Pair"/>) or sixteen floats (<see cref="Scalar16"/>).
    /// </summary>
    internal static TResult RunLanes<TKernel, TArgs, TResult>(ref TArgs args) where TKernel : ILaneKernel<TArgs, TResult> where TArgs : allows ref struct =>
        _path switch
        {
            KernelPath.Vector512 => TKernel.Run<V512, Vector512<float>>(ref args),
            KernelPath.Vector256 => TKernel.Run<V256Pair, V256Pair>(ref args),
            _ => TKernel.Run<Scalar16, Scalar16>(ref args),
        };
}

/// <summary>A computation over 16 float lanes, for <see cref="Kernels.RunLanes"/>.</summary>
internal interface ILaneKernel<TArgs, TResult> where TArgs : allows ref struct
{
    /// <summary>The computation with 16 lanes in <typeparamref name="TOps"/> (whose <c>Width</c> is 16).</summary>
    static abstract TResult Run<TOps, TV>(ref TArgs args) where TOps : struct, IVec<TV> where TV : unmanaged;
}

/// <summary>An element-wise kernel at any width, for <see cref="Kernels.Run"/>.</summary>
internal interface IWidthKernel<TArgs> where TArgs : allows ref struct
{
    /// <summary>Elements [i, n) as far as whole vectors of <typeparamref name="TOps"/> cover them; returns the first element left.</summary>
    static abstract long Run<TOps, TV>(ref TArgs args, long i, long n) where TOps : struct, IVec<TV> where TV : unmanaged;
}
