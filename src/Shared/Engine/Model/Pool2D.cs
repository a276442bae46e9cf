using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace DistributedNN.Model;

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

    public unsafe void Forward(ReadOnlySpan<float> input, int rows, Span<float> output)
    {
        var s = Shape;
        Check(rows, input.Length, output.Length);
        // the shape's sizes in locals: its derived properties divide, and the loops below run per output
        int channels = s.Channels, height = s.Height, width = s.Width, size = s.Size, stride = s.Stride;
        int oh = s.OutHeight, ow = s.OutWidth, inSize = s.InputSize, outSize = s.OutputSize;
        bool max = s.Kind == PoolKind.Max;
        // 2×2 windows at stride 2 (the usual max pooling): 4 windows at a time on vectors, then the loop below for the rest
        bool pairs = max && size == 2 && stride == 2 && Sse.IsSupported;
        float scale = 1f / (size * size);
        fixed (float* x = input)
        fixed (float* y = output)
        fixed (int* arg = _argmax)
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < channels; c++)
                {
                    int plane = r * inSize + c * height * width;
                    int o = r * outSize + c * oh * ow;
                    for (int oy = 0; oy < oh; oy++)
                    {
                        int done = pairs ? MaxOfPairs(x, plane + oy * 2 * width, width, ow, y + o, arg + o) : 0;
                        o += done;
                        for (int ox = done; ox < ow; ox++, o++)
                        {
                            int first = plane + oy * stride * width + ox * stride;
                            if (max)
                            {
                                int best = first;
                                float top = x[first];
                                for (int ky = 0; ky < size; ky++)
                                    for (int kx = 0; kx < size; kx++)
                                    {
                                        int i = first + ky * width + kx;
                                        if (x[i] > top) { top = x[i]; best = i; }
                                    }
                                arg[o] = best;
                                y[o] = top;
                            }
                            else
                            {
                                float sum = 0;
                                for (int ky = 0; ky < size; ky++)
                                    for (int kx = 0; kx < size; kx++) sum += x[first + ky * width + kx];
                                y[o] = sum * scale;
                            }
                        }
                    }
                }
    }

    /// <summary>
    /// Max pooling of one output row of 2×2 windows at stride 2, 4 windows at a time: the scalar loop's comparisons — strict,
    /// in window order (the first of equal values wins; a NaN first stays) — on 128-bit lanes, so the same values and
    /// winners. Returns how many windows it did (a multiple of 4).
    /// </summary>
    private static unsafe int MaxOfPairs(float* x, int first, int width, int count, float* y, int* arg)
    {
        var lanes = Vector128.Create(0, 2, 4, 6);
        int done = 0;
        for (; done + 4 <= count; done += 4)
        {
            int i = first + 2 * done;
            Vector128<float> v0 = Sse.LoadVector128(x + i), v1 = Sse.LoadVector128(x + i + 4);
            Vector128<float> w0 = Sse.LoadVector128(x + i + width), w1 = Sse.LoadVector128(x + i + width + 4);
            // even and odd columns: the windows' left and right halves, top row then bottom row
            var a = Sse.Shuffle(v0, v1, 0b10_00_10_00);
            var b = Sse.Shuffle(v0, v1, 0b11_01_11_01);
            var c = Sse.Shuffle(w0, w1, 0b10_00_10_00);
            var d = Sse.Shuffle(w0, w1, 0b11_01_11_01);
            var at = Vector128.Create(i) + lanes;
            Vector128<float> top = a;
            Vector128<int> best = at;
            var m = Vector128.GreaterThan(b, top);
            (top, best) = (Vector128.ConditionalSelect(m, b, top), Vector128.ConditionalSelect(m.AsInt32(), at + Vector128<int>.One, best));
            m = Vector128.GreaterThan(c, top);
            (top, best) = (Vector128.ConditionalSelect(m, c, top), Vector128.ConditionalSelect(m.AsInt32(), at + Vector128.Create(width), best));
            m = Vector128.GreaterThan(d, top);
            (top, best) = (Vector128.ConditionalSelect(m, d, top), Vector128.ConditionalSelect(m.AsInt32(), at + Vector128.Create(width + 1), best));
            top.Store(y + done);
            best.Store(arg + done);
        }
        return done;
    }

    /// <summary>dE/dx [rows × InputSize] (overwritten) from dE/dz of the last <see cref="Forward"/> over the same rows.</summary>
    public unsafe void Backward(ReadOnlySpan<float> delta, int rows, Span<float> inputGradient)
    {
        var s = Shape;
        Check(rows, inputGradient.Length, delta.Length);
        inputGradient[..(rows * s.InputSize)].Clear();
        int channels = s.Channels, height = s.Height, width = s.Width, size = s.Size, stride = s.Stride;
        int oh = s.OutHeight, ow = s.OutWidth, inSize = s.InputSize, outSize = s.OutputSize;
        float scale = 1f / (size * size);
        fixed (float* d = delta)
        fixed (float* dx = inputGradient)
        fixed (int* arg = _argmax)
        {
            if (s.Kind == PoolKind.Max)
            {
                for (int o = 0; o < rows * outSize; o++) dx[arg[o]] += d[o];
                return;
            }
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < channels; c++)
                {
                    int plane = r * inSize + c * height * width;
                    int o = r * outSize + c * oh * ow;
                    for (int oy = 0; oy < oh; oy++)
                        for (int ox = 0; ox < ow; ox++, o++)
                        {
                            int first = plane + oy * stride * width + ox * stride;
                            float share = d[o] * scale;
                            for (int ky = 0; ky < size; ky++)
                                for (int kx = 0; kx < size; kx++) dx[first + ky * width + kx] += share;
                        }
                }
        }
    }

    private void Check(int rows, int inputLength, int outputLength)
    {
        if (rows < 0 || rows > MaxRows) throw new ArgumentOutOfRangeException(nameof(rows), $"{rows} rows; this layer holds up to {MaxRows}");
        if (inputLength < rows * Shape.InputSize) throw new ArgumentException($"{inputLength} input values for {rows} rows of {Shape.InputSize}");
        if (outputLength < rows * Shape.OutputSize) throw new ArgumentException($"{outputLength} output values for {rows} rows of {Shape.OutputSize}");
    }
}
