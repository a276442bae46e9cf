using System.Runtime.Intrinsics;
using DistributedNN.Numerics;

namespace DistributedNN.Model;

/// <summary>
/// Where a convolution's products read their patches in place (<see cref="Conv2D"/>, implicit im2col): the planes every
/// patch row is a run of. With stride 1, no padding and output rows of whole 8-pixel vectors, the plane is the input
/// itself. Otherwise each sample is copied once into planes with its zero border: with stride S, S × S phase planes per
/// channel (phase (py, px) holds the bordered image's pixels (S·i + py, S·j + px) at (i, j)), so that the inputs of
/// kernel tap (ky, kx) for a row of outputs are contiguous in phase (ky mod S, kx mod S) from (oy + ky / S, kx / S) on.
/// The forward computes rows of <see cref="RowWidth"/> outputs (a phase plane's width), of which the last ones are
/// discarded: every 8-output run then reads contiguous floats. The zeros the products read in the border are the zeros
/// the copied patch matrix holds there, so every FMA chain is the same; col2im adds into gradient planes whose border is
/// thrown away, so every pixel inside gets the same additions in the same order.
/// Buffers are allocated once; not thread-safe.
/// </summary>
internal sealed unsafe class ConvPlane
{
    private readonly ConvShape _s;
    private readonly float[][] _buffers = []; // held: the two below point into them
    private readonly float* _input, _gradient; // padded: a chunk's planes, and their gradient
    private readonly int[] _patch, _runs, _pixels;

    /// <summary>Whether the shape's products can read the patches in place: filters in 16-wide panels.</summary>
    public static bool Fits(ConvShape s) => s.Filters % 16 == 0;

    public ConvPlane(ConvShape s, int chunk)
    {
        _s = s;
        int ow = s.OutWidth, pixels = s.OutHeight * ow, stride = s.Stride;
        Padded = stride > 1 || s.Padding > 0 || ow % 8 != 0 || pixels % 16 != 0;
        _phaseHeight = (s.Height + 2 * s.Padding + stride - 1) / stride;
        _phaseWidth = (s.Width + 2 * s.Padding + stride - 1) / stride;
        RowStride = Padded ? _phaseWidth : s.Width;
        RowWidth = Padded ? _phaseWidth : ow;
        PerSample = Padded ? (s.OutHeight * RowWidth + 15) / 16 * 16 : pixels;
        // the last run of the last sample reads up to KernelWidth + 22 floats past its planes
        SampleStride = Padded ? (s.Channels * stride * stride * _phaseHeight * _phaseWidth + s.KernelWidth + 24 + 7) / 8 * 8 : s.InputSize;
        if (Padded)
            _buffers = [Pinned.Floats((long)chunk * SampleStride, out _input), Pinned.Floats((long)chunk * SampleStride, out _gradient)];
        _patch = new int[s.PatchSize];
        for (int c = 0, i = 0; c < s.Channels; c++)
            for (int ky = 0; ky < s.KernelHeight; ky++)
                for (int kx = 0; kx < s.KernelWidth; kx++)
                    _patch[i++] = Padded ? Phase(c, ky % stride, kx % stride) + ky / stride * RowStride + kx / stride : (c * s.Height + ky) * s.Width + kx;
        _runs = new int[chunk * PerSample / 8];
        for (int q = 0; q < _runs.Length; q++)
        {
            int r = q / (PerSample / 8), t = q % (PerSample / 8) * 8;
            _runs[q] = r * SampleStride + t / RowWidth * RowStride + t % RowWidth;
        }
        _pixels = new int[chunk * pixels];
        for (int q = 0; q < _pixels.Length; q++)
        {
            int r = q / pixels, t = q % pixels;
            _pixels[q] = r * SampleStride + t / ow * RowStride + t % ow;
        }
    }

    private readonly int _phaseHeight, _phaseWidth;

    /// <summary>Whether the samples are copied into bordered (phase) planes (else the input is the plane).</summary>
    public bool Padded { get; }
    /// <summary>Floats from a plane's row to the next.</summary>
    public int RowStride { get; }
    /// <summary>Outputs the forward computes per output row (a phase plane's width when padded: the last ones discarded).</summary>
    public int RowWidth { get; }
    /// <summary>Outputs the forward computes per sample: a multiple of 16.</summary>
    public int PerSample { get; }
    /// <summary>Floats from one sample's plane to the next.</summary>
    public int SampleStride { get; }

    // where phase plane (py, px) of channel c starts in a sample's planes
    private int Phase(int c, int py, int px) => ((c * _s.Stride + py) * _s.Stride + px) * _phaseHeight * _phaseWidth;

    /// <summary>The planes of samples [r0, r0 + n) of <paramref name="x"/>: the input itself, or their bordered copies.</summary>
    public float* Input(float* x, int r0, int n)
    {
        var s = _s;
        if (!Padded) return x + (long)r0 * s.InputSize;
        for (int r = 0; r < n; r++) Planes(x + (long)(r0 + r) * s.InputSize, _input + (long)r * SampleStride, toPlanes: true);
        return _input; // the border and the slack are never written: zeros from the allocation on
    }

    /// <summary>One sample's image to its planes (or back): pixel (iy, ix) ↔ phase ((iy + P) mod S, (ix + P) mod S) at ((iy + P) / S, (ix + P) / S).</summary>
    private void Planes(float* image, float* planes, bool toPlanes)
    {
        var s = _s;
        int stride = s.Stride, p = s.Padding;
        for (int c = 0; c < s.Channels; c++)
            for (int iy = 0; iy < s.Height; iy++)
            {
                int y = iy + p;
                float* row = image + (c * s.Height + iy) * s.Width;
                if (stride == 1)
                {
                    float* at = planes + Phase(c, 0, 0) + y * RowStride + p;
                    if (toPlanes) new ReadOnlySpan<float>(row, s.Width).CopyTo(new Span<float>(at, s.Width));
                    else new ReadOnlySpan<float>(at, s.Width).CopyTo(new Span<float>(row, s.Width));
                    continue;
                }
                // phase column px holds the pixels ix ≡ px − P (mod S), one after another
                for (int px = 0; px < stride; px++)
                {
                    int first = ((px - p) % stride + stride) % stride;
                    float* at = planes + Phase(c, y % stride, px) + y / stride * RowStride + (first + p) / stride;
                    if (toPlanes)
                        for (int ix = first; ix < s.Width; ix += stride) *at++ = row[ix];
                    else
                        for (int ix = first; ix < s.Width; ix += stride) row[ix] = *at++;
                }
            }
    }

    /// <summary>z of samples [r0, r0 + n) = the forward's product (rows of <see cref="RowWidth"/>, <paramref name="width"/> per filter) + bias.</summary>
    public void Output(float* product, int width, int n, float* bias, float* z)
    {
        var s = _s;
        int ow = s.OutWidth, pixels = s.OutHeight * ow;
        for (int r = 0; r < n; r++)
            for (int f = 0; f < s.Filters; f++)
            {
                float* from = product + (long)f * width + r * PerSample, to = z + (long)r * s.OutputSize + f * pixels;
                if (!Padded) AddBias(from, bias[f], to, pixels);
                else
                    for (int oy = 0, oh = s.OutHeight; oy < oh; oy++) AddBias(from + oy * RowWidth, bias[f], to + oy * ow, ow);
            }
    }

    /// <summary>The gradient planes of samples [r0, r0 + n) of <paramref name="dx"/>, cleared: dx itself, or the bordered buffer.</summary>
    public float* Gradient(float* dx, int r0, int n)
    {
        float* plane = Padded ? _gradient : dx + (long)r0 * _s.InputSize;
        new Span<float>(plane, n * (Padded ? SampleStride : _s.InputSize)).Clear();
        return plane;
    }

    /// <summary>Patch row <paramref name="row"/> of n samples' col2im values ([n·pixels], in order) added onto their pixels of the gradient planes.</summary>
    public void Scatter(float* values, int n, float* plane, int row)
    {
        var s = _s;
        int ow = s.OutWidth, oh = s.OutHeight, wp = RowStride;
        for (int r = 0; r < n; r++)
        {
            float* to = plane + (long)r * SampleStride + _patch[row];
            for (int oy = 0; oy < oh; oy++, to += wp, values += ow)
            {
                int ox = 0;
                for (; ox + 8 <= ow; ox += 8) (Vector256.Load(to + ox) + Vector256.Load(values + ox)).Store(to + ox);
                for (; ox < ow; ox++) to[ox] += values[ox];
            }
        }
    }

    /// <summary>When padded: the inside of the gradient planes into dx of samples [r0, r0 + n).</summary>
    public void GradientOut(float* plane, float* dx, int r0, int n)
    {
        if (!Padded) return;
        for (int r = 0; r < n; r++) Planes(dx + (long)(r0 + r) * _s.InputSize, plane + (long)r * SampleStride, toPlanes: false);
    }

    /// <summary>Patch row (c, ky, kx) → its offset in a sample's plane.</summary>
    public int[] PatchOffsets => _patch;
    /// <summary>A chunk's 8-output runs (<see cref="PerSample"/> per sample) → where their patches start in the chunk's planes.</summary>
    public int[] RunOffsets => _runs;
    /// <summary>A chunk's outputs (pixels in order, sample after sample) → where their patches start in the chunk's planes.</summary>
    public int[] PixelOffsets => _pixels;

    // to[j] = from[j] + b: one addition per element
    internal static void AddBias(float* from, float b, float* to, int n)
    {
        int j = 0;
        var bv = Vector256.Create(b);
        for (; j + 8 <= n; j += 8) Vector256.Store(Vector256.Load(from + j) + bv, to + j);
        for (; j < n; j++) to[j] = from[j] + b;
    }
}
