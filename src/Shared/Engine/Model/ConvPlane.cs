using System.Runtime.Intrinsics;
using DistributedNN.Numerics;

namespace DistributedNN.Model;

/// <summary>
/// Where a stride-1 convolution's products read their patches in place (<see cref="Conv2D"/>, implicit im2col): the plane
/// every patch row is a run of. Without padding and with output rows of whole 8-pixel vectors, the plane is the input
/// itself. Otherwise each sample is copied once into a plane of rows Wp = W + 2·P wide with its zero border (and a few
/// floats of slack), and the forward computes rows of Wp outputs, of which the last Wp − OutWidth are discarded: every
/// 8-pixel run of outputs then reads contiguous floats of the plane. The zeros the products read in the border are the
/// zeros the copied patch matrix holds there, so every FMA chain is the same; col2im adds into a gradient plane whose
/// border is thrown away, so every pixel inside gets the same additions in the same order.
/// Buffers are allocated once; not thread-safe.
/// </summary>
internal sealed unsafe class ConvPlane
{
    private readonly ConvShape _s;
    private readonly float[][] _buffers = []; // held: the two below point into them
    private readonly float* _input, _gradient; // padded: a chunk's planes, and their gradient
    private readonly int[] _patch, _runs, _pixels;

    /// <summary>Whether the shape's products can read the patches in place: stride 1, filters in 16-wide panels.</summary>
    public static bool Fits(ConvShape s) => s.Stride == 1 && s.Filters % 16 == 0;

    public ConvPlane(ConvShape s, int chunk)
    {
        _s = s;
        int ow = s.OutWidth, pixels = s.OutHeight * ow;
        Padded = s.Padding > 0 || ow % 8 != 0 || pixels % 16 != 0;
        Wp = s.Width + 2 * s.Padding;
        int hp = s.Height + 2 * s.Padding;
        RowWidth = Padded ? Wp : ow;
        PerSample = Padded ? (s.OutHeight * Wp + 15) / 16 * 16 : pixels;
        // the last run of the last sample reads up to KernelWidth + 14 floats past its plane
        SampleStride = Padded ? (s.Channels * hp * Wp + s.KernelWidth + 16 + 7) / 8 * 8 : s.InputSize;
        if (Padded)
            _buffers = [Pinned.Floats((long)chunk * SampleStride, out _input), Pinned.Floats((long)chunk * SampleStride, out _gradient)];
        _patch = new int[s.PatchSize];
        for (int c = 0, i = 0; c < s.Channels; c++)
            for (int ky = 0; ky < s.KernelHeight; ky++)
                for (int kx = 0; kx < s.KernelWidth; kx++) _patch[i++] = (c * hp + ky) * Wp + kx;
        _runs = new int[chunk * PerSample / 8];
        for (int q = 0; q < _runs.Length; q++)
        {
            int r = q / (PerSample / 8), t = q % (PerSample / 8) * 8;
            _runs[q] = r * SampleStride + t / RowWidth * Wp + t % RowWidth;
        }
        _pixels = new int[chunk * pixels];
        for (int q = 0; q < _pixels.Length; q++)
        {
            int r = q / pixels, t = q % pixels;
            _pixels[q] = r * SampleStride + t / ow * Wp + t % ow;
        }
    }

    /// <summary>Whether the samples are copied into bordered planes (else the input is the plane).</summary>
    public bool Padded { get; }
    /// <summary>The plane's row length.</summary>
    public int Wp { get; }
    /// <summary>Outputs the forward computes per output row (Wp when padded: the last ones discarded).</summary>
    public int RowWidth { get; }
    /// <summary>Outputs the forward computes per sample: a multiple of 16.</summary>
    public int PerSample { get; }
    /// <summary>Floats from one sample's plane to the next.</summary>
    public int SampleStride { get; }

    /// <summary>The planes of samples [r0, r0 + n) of <paramref name="x"/>: the input itself, or their bordered copies.</summary>
    public float* Input(float* x, int r0, int n)
    {
        var s = _s;
        if (!Padded) return x + (long)r0 * s.InputSize;
        int hp = s.Height + 2 * s.Padding;
        for (int r = 0; r < n; r++)
            for (int c = 0; c < s.Channels; c++)
                for (int iy = 0; iy < s.Height; iy++)
                    new ReadOnlySpan<float>(x + (long)(r0 + r) * s.InputSize + (c * s.Height + iy) * s.Width, s.Width)
                        .CopyTo(new Span<float>(_input + (long)r * SampleStride + (c * hp + iy + s.Padding) * Wp + s.Padding, s.Width));
        return _input; // the border and the slack are never written: zeros from the allocation on
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
                    for (int oy = 0, oh = s.OutHeight; oy < oh; oy++) AddBias(from + oy * Wp, bias[f], to + oy * ow, ow);
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
        int ow = s.OutWidth, oh = s.OutHeight, wp = Wp;
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
        var s = _s;
        if (!Padded) return;
        int hp = s.Height + 2 * s.Padding;
        for (int r = 0; r < n; r++)
            for (int c = 0; c < s.Channels; c++)
                for (int iy = 0; iy < s.Height; iy++)
                    new ReadOnlySpan<float>(plane + (long)r * SampleStride + (c * hp + iy + s.Padding) * Wp + s.Padding, s.Width)
                        .CopyTo(new Span<float>(dx + (long)(r0 + r) * s.InputSize + (c * s.Height + iy) * s.Width, s.Width));
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
