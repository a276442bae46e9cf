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

/// <summary>
/// Max or average pooling. Max passes each output's gradient back to the one input that won its window (the first
/// of equal values, in window order); average spreads it evenly over the window. An input in several windows collects
/// the gradient of each. Buffers for up to <see cref="MaxRows"/> samples are allocated once; not thread-safe.
/// </summary>
public sealed class Pool2D
{
    private readonly int[] _argmax; // per output of the last forward pass: the input index that won (max pooling)

    public Pool2D(PoolShape shape, int maxRows)
    {
        shape.Validate();
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxRows);
        Shape = shape;
        MaxRows = maxRows;
        _argmax = shape.Kind == PoolKind.Max ? new int[maxRows * shape.OutputSize] : [];
    }

    public PoolShape Shape { get; }
    public int MaxRows { get; }

    public void Forward(ReadOnlySpan<float> input, int rows, Span<float> output)
    {
        var s = Shape;
        Check(rows, input.Length, output.Length);
        float scale = 1f / (s.Size * s.Size);
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < s.Channels; c++)
            {
                int plane = r * s.InputSize + c * s.Height * s.Width;
                for (int oy = 0; oy < s.OutHeight; oy++)
                    for (int ox = 0; ox < s.OutWidth; ox++)
                    {
                        int o = r * s.OutputSize + (c * s.OutHeight + oy) * s.OutWidth + ox;
                        int first = plane + oy * s.Stride * s.Width + ox * s.Stride;
                        if (s.Kind == PoolKind.Max)
                        {
                            int best = first;
                            for (int ky = 0; ky < s.Size; ky++)
                                for (int kx = 0; kx < s.Size; kx++)
                                {
                                    int i = first + ky * s.Width + kx;
                                    if (input[i] > input[best]) best = i;
                                }
                            _argmax[o] = best;
                            output[o] = input[best];
                        }
                        else
                        {
                            float sum = 0;
                            for (int ky = 0; ky < s.Size; ky++)
                                for (int kx = 0; kx < s.Size; kx++) sum += input[first + ky * s.Width + kx];
                            output[o] = sum * scale;
                        }
                    }
            }
    }

    /// <summary>dE/dx [rows × InputSize] (overwritten) from dE/dz of the last <see cref="Forward"/> over the same rows.</summary>
    public void Backward(ReadOnlySpan<float> delta, int rows, Span<float> inputGradient)
    {
        var s = Shape;
        Check(rows, inputGradient.Length, delta.Length);
        inputGradient[..(rows * s.InputSize)].Clear();
        float scale = 1f / (s.Size * s.Size);
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < s.Channels; c++)
                for (int oy = 0; oy < s.OutHeight; oy++)
                    for (int ox = 0; ox < s.OutWidth; ox++)
                    {
                        int o = r * s.OutputSize + (c * s.OutHeight + oy) * s.OutWidth + ox;
                        if (s.Kind == PoolKind.Max)
                        {
                            inputGradient[_argmax[o]] += delta[o];
                            continue;
                        }
                        int first = r * s.InputSize + c * s.Height * s.Width + oy * s.Stride * s.Width + ox * s.Stride;
                        float share = delta[o] * scale;
                        for (int ky = 0; ky < s.Size; ky++)
                            for (int kx = 0; kx < s.Size; kx++) inputGradient[first + ky * s.Width + kx] += share;
                    }
    }

    private void Check(int rows, int inputLength, int outputLength)
    {
        if (rows < 0 || rows > MaxRows) throw new ArgumentOutOfRangeException(nameof(rows), $"{rows} rows; this layer holds up to {MaxRows}");
        if (inputLength < rows * Shape.InputSize) throw new ArgumentException($"{inputLength} input values for {rows} rows of {Shape.InputSize}");
        if (outputLength < rows * Shape.OutputSize) throw new ArgumentException($"{outputLength} output values for {rows} rows of {Shape.OutputSize}");
    }
}
