using DistributedNN.Numerics;

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

/// <summary>
/// 2-D convolution by im2col and the GEMM kernel, one sample at a time (the patch matrix of one sample stays small):
/// forward Z_s = W · cols(x_s) + b; backward dW = Σ_s δ_s · cols(x_s)ᵀ, db = Σ_s Σ_pixels δ_s, and
/// dx_s = col2im(Wᵀ · δ_s) — every input pixel collects the gradient of every output it fed (the chain rule's sum over paths).
/// Sums over samples run in sample order. Buffers are allocated once; not thread-safe.
/// </summary>
public sealed unsafe class Conv2D
{
    private readonly float[] _cols;     // [PatchSize × OutHeight·OutWidth] of one sample
    private readonly float[] _deltaT;   // one sample's δ transposed, [OutHeight·OutWidth × Filters]
    private readonly float[] _weightGradT; // Σ_s cols·δ_sᵀ = dWᵀ, [PatchSize × Filters]

    public Conv2D(ConvShape shape)
    {
        shape.Validate();
        Shape = shape;
        int pixels = shape.OutHeight * shape.OutWidth;
        _cols = GC.AllocateArray<float>(shape.PatchSize * pixels, pinned: true);
        _deltaT = GC.AllocateArray<float>(pixels * shape.Filters, pinned: true);
        _weightGradT = GC.AllocateArray<float>(shape.PatchSize * shape.Filters, pinned: true);
    }

    public ConvShape Shape { get; }

    /// <summary><paramref name="output"/> [rows × OutputSize] = conv(<paramref name="input"/> [rows × InputSize]) with <paramref name="parameters"/> (weights, then biases).</summary>
    public void Forward(ReadOnlySpan<float> input, int rows, ReadOnlySpan<float> parameters, Span<float> output)
    {
        Check(input, rows, parameters, output.Length, nameof(output));
        var s = Shape;
        int pixels = s.OutHeight * s.OutWidth;
        fixed (float* x = input)
        fixed (float* p = parameters)
        fixed (float* z = output)
        fixed (float* cols = _cols)
            for (int r = 0; r < rows; r++)
            {
                Im2Col(x + (long)r * s.InputSize, cols);
                float* zr = z + (long)r * s.OutputSize;
                // Z [Filters × pixels] = W [Filters × PatchSize] · cols [PatchSize × pixels]
                Gemm.MatMul(s.Filters, pixels, s.PatchSize, p, s.PatchSize, 1, cols, pixels, zr, pixels, accumulate: false);
                float* bias = p + s.Filters * s.PatchSize;
                for (int f = 0; f < s.Filters; f++)
                {
                    float b = bias[f];
                    float* row = zr + f * pixels;
                    for (int j = 0; j < pixels; j++) row[j] += b;
                }
            }
    }

    /// <summary>
    /// The gradient (sum over the <paramref name="rows"/> samples) of the weights and biases into <paramref name="gradient"/>
    /// (overwritten; same layout as the parameters), and, unless <paramref name="inputGradient"/> is empty, dE/dx [rows × InputSize].
    /// </summary>
    public void Backward(ReadOnlySpan<float> input, ReadOnlySpan<float> delta, int rows, ReadOnlySpan<float> parameters,
        Span<float> gradient, Span<float> inputGradient)
    {
        Check(input, rows, parameters, delta.Length, nameof(delta));
        var s = Shape;
        if (gradient.Length != s.ParameterCount) throw new ArgumentException($"gradient holds {gradient.Length} values, the layer has {s.ParameterCount}");
        if (!inputGradient.IsEmpty && inputGradient.Length < rows * s.InputSize) throw new ArgumentException("input gradient too small");
        int pixels = s.OutHeight * s.OutWidth;
        var bias = gradient.Slice(s.Filters * s.PatchSize, s.Filters);
        bias.Clear();
        fixed (float* x = input)
        fixed (float* d = delta)
        fixed (float* p = parameters)
        fixed (float* dx = inputGradient)
        fixed (float* cols = _cols)
        fixed (float* dT = _deltaT)
        fixed (float* gT = _weightGradT)
        {
            for (int r = 0; r < rows; r++)
            {
                float* dr = d + (long)r * s.OutputSize;
                Im2Col(x + (long)r * s.InputSize, cols);
                // dWᵀ [PatchSize × Filters] (+)= cols [PatchSize × pixels] · δᵀ [pixels × Filters]
                Gemm.Transpose(s.Filters, pixels, dr, dT);
                Gemm.MatMul(s.PatchSize, s.Filters, pixels, cols, pixels, 1, dT, s.Filters, gT, s.Filters, accumulate: r > 0);
                for (int f = 0; f < s.Filters; f++)
                {
                    float sum = 0;
                    for (int j = 0; j < pixels; j++) sum += dr[f * pixels + j];
                    bias[f] += sum;
                }
                if (inputGradient.IsEmpty) continue;
                // dcols [PatchSize × pixels] = Wᵀ · δ_s, then every patch value back onto the pixel it came from
                Gemm.MatMul(s.PatchSize, pixels, s.Filters, p, 1, s.PatchSize, dr, pixels, cols, pixels, accumulate: false);
                Col2Im(cols, dx + (long)r * s.InputSize);
            }
            if (rows == 0) new Span<float>(gT, _weightGradT.Length).Clear();
            fixed (float* g = gradient)
                Gemm.Transpose(s.PatchSize, s.Filters, gT, g); // dW [Filters × PatchSize]
        }
    }

    private void Check(ReadOnlySpan<float> input, int rows, ReadOnlySpan<float> parameters, int outputLength, string outputName)
    {
        var s = Shape;
        if (rows < 0) throw new ArgumentOutOfRangeException(nameof(rows));
        if (input.Length < rows * s.InputSize) throw new ArgumentException($"input holds {input.Length} values, {rows} rows need {rows * s.InputSize}");
        if (parameters.Length != s.ParameterCount) throw new ArgumentException($"{parameters.Length} parameters for a layer of {s.ParameterCount}");
        if (outputLength < rows * s.OutputSize) throw new ArgumentException($"{outputName} holds {outputLength} values, {rows} rows need {rows * s.OutputSize}");
    }

    private void Im2Col(float* x, float* cols) => Patches(x, cols, gather: true);

    // the adjoint of Im2Col: dx[c, iy, ix] = Σ over the patches that read it (overwrites dx)
    private void Col2Im(float* cols, float* dx)
    {
        new Span<float>(dx, Shape.InputSize).Clear();
        Patches(dx, cols, gather: false);
    }

    /// <summary>
    /// Walks cols[(c, ky, kx), (oy, ox)] ↔ x[c, oy·S + ky − P, ox·S + kx − P]: gathering sets each patch value from its
    /// pixel (0 outside the input); scattering adds each patch value onto its pixel.
    /// </summary>
    private void Patches(float* x, float* cols, bool gather)
    {
        var s = Shape;
        int oh = s.OutHeight, ow = s.OutWidth;
        for (int c = 0; c < s.Channels; c++)
            for (int ky = 0; ky < s.KernelHeight; ky++)
                for (int kx = 0; kx < s.KernelWidth; kx++)
                {
                    float* row = cols + (long)((c * s.KernelHeight + ky) * s.KernelWidth + kx) * oh * ow;
                    for (int oy = 0; oy < oh; oy++)
                    {
                        int iy = oy * s.Stride + ky - s.Padding;
                        float* patch = row + oy * ow;
                        if (iy < 0 || iy >= s.Height)
                        {
                            if (gather) new Span<float>(patch, ow).Clear();
                            continue;
                        }
                        float* pixels = x + (c * s.Height + iy) * s.Width;
                        for (int ox = 0; ox < ow; ox++)
                        {
                            int ix = ox * s.Stride + kx - s.Padding;
                            bool inside = ix >= 0 && ix < s.Width;
                            if (gather) patch[ox] = inside ? pixels[ix] : 0f;
                            else if (inside) pixels[ix] += patch[ox];
                        }
                    }
                }
    }
}
