namespace DistributedNN.Model;

/// <summary>
/// The shape of a 2-D convolution over batch-major NCHW tensors: <see cref="Channels"/> × <see cref="Height"/> ×
/// <see cref="Width"/> in, <see cref="Filters"/> × <see cref="OutHeight"/> × <see cref="OutWidth"/> out, kernels of
/// <see cref="KernelHeight"/> × <see cref="KernelWidth"/>, zero padding on every side, one stride for both axes.
/// </summary>
public sealed record ConvShape(int Channels, int Height, int Width, int Filters, int KernelHeight, int KernelWidth, int Stride = 1, int Padding = 0)
{
    public int OutHeight => (Height + 2 * Padding - KernelHeight) / Stride + 1;
    public int OutWidth => (Width + 2 * Padding - KernelWidth) / Stride + 1;
    public int InputSize => Channels * Height * Width;
    public int OutputSize => Filters * OutHeight * OutWidth;
    /// <summary>Values per filter: Channels × KernelHeight × KernelWidth.</summary>
    public int PatchSize => Channels * KernelHeight * KernelWidth;
    /// <summary>Weights [Filters × Channels × KernelHeight × KernelWidth], then one bias per filter.</summary>
    public int ParameterCount => Filters * PatchSize + Filters;

    /// <exception cref="UserErrorException">A size that is not positive, or a kernel that does not fit the padded input.</exception>
    public void Validate()
    {
        if (Channels < 1 || Height < 1 || Width < 1 || Filters < 1 || KernelHeight < 1 || KernelWidth < 1 || Stride < 1 || Padding < 0)
            throw new UserErrorException($"convolution {Channels}×{Height}×{Width}, {Filters} filters of {KernelHeight}×{KernelWidth}, stride {Stride}, padding {Padding}: sizes, kernel and stride must be positive and padding zero or more");
        if (KernelHeight > Height + 2 * Padding || KernelWidth > Width + 2 * Padding)
            throw new UserErrorException($"convolution: a {KernelHeight}×{KernelWidth} kernel does not fit a {Height}×{Width} input with padding {Padding}");
    }

    public override string ToString() =>
        $"{Channels}×{Height}×{Width} → {Filters}×{OutHeight}×{OutWidth} (kernel {KernelHeight}×{KernelWidth}, stride {Stride}, padding {Padding})";
}
