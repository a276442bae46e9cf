namespace DistributedNN.Model;

public enum PoolKind { Max, Average }

/// <summary>
/// The shape of a 2-D pooling over batch-major NCHW tensors: windows of <see cref="Size"/> × <see cref="Size"/> taken every
/// <see cref="Stride"/> pixels in each channel, no padding (a window never leaves the input).
/// </summary>
public sealed record PoolShape(PoolKind Kind, int Channels, int Height, int Width, int Size, int Stride)
{
    public int OutHeight => (Height - Size) / Stride + 1;
    public int OutWidth => (Width - Size) / Stride + 1;
    public int InputSize => Channels * Height * Width;
    public int OutputSize => Channels * OutHeight * OutWidth;

    /// <exception cref="UserErrorException">A size that is not positive, or a window larger than the input.</exception>
    public void Validate()
    {
        if (Channels < 1 || Height < 1 || Width < 1 || Size < 1 || Stride < 1)
            throw new UserErrorException($"pooling {Channels}×{Height}×{Width}, window {Size}, stride {Stride}: sizes, window and stride must be positive");
        if (Size > Height || Size > Width)
            throw new UserErrorException($"pooling: a {Size}×{Size} window does not fit a {Height}×{Width} input");
    }
}
