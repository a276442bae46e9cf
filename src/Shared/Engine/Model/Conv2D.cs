using System.Runtime.Intrinsics;
using DistributedNN.Numerics;

namespace DistributedNN.Model;

/// <summary>
/// 2-D convolution by im2col and the GEMM kernel over chunks of up to <see cref="Chunk"/> samples, whose patch
/// matrices sit side by side so that each product is wide: forward Z = W · [cols(x₁) … cols(x_c)] + b; backward
/// dWᵀ = Σ cols · δᵀ (one FMA chain per weight over every sample's pixels in order, continued from chunk to chunk),
/// db = Σ_s Σ_pixels δ_s, and dx_s = col2im(Wᵀ · δ_s) — every input pixel collects the gradient of every output it
/// fed (the chain rule's sum over paths). Results do not depend on the chunking or on the threads of <see cref="Team"/>.
/// With filters in 16s on a vector path, no patch matrix is made: the forward and the weight gradient read each patch where
/// it lies in the input, or in bordered (phase) planes copied from it (<see cref="ConvPlane"/>;
/// <see cref="Gemm.MatMulGatherB"/>, <see cref="Gemm.MatMulGatherA"/>), and col2im takes Wᵀ·δ a band of patch rows at a
/// time (<see cref="ScatterProduct"/>) — the same FMA chains and the same order of additions, so the same bits.
/// Buffers are allocated once; not thread-safe.
/// </summary>
public sealed unsafe class Conv2D
{
    /// <summary>Samples per product.</summary>
    public const int Chunk = 4;
    private readonly float[][] _buffers; // held: the four below point into them
    private readonly float* _cols;      // [PatchSize × Chunk·pixels]: one chunk's patches, sample after sample
    private readonly float* _wide;      // [Filters × Chunk·pixels]: Z of a chunk, or its δ gathered
    private readonly float* _deltaT;    // the chunk's δ transposed, [Chunk·pixels × Filters]
    private readonly float* _weightGradT; // Σ cols·δᵀ = dWᵀ, [PatchSize × Filters]
    private readonly ConvPlane? _plane;  // implicit im2col: where the patches are read in place

    public Conv2D(ConvShape shape)
    {
        shape.Validate();
        Shape = shape;
        int pixels = shape.OutHeight * shape.OutWidth;
        if (ConvPlane.Fits(shape)) _plane = new ConvPlane(shape, Chunk);
        _buffers =
        [
            Pinned.Floats((long)shape.PatchSize * pixels * Chunk, out _cols),
            Pinned.Floats((long)shape.Filters * System.Math.Max(pixels, _plane?.PerSample ?? 0) * Chunk, out _wide),
            Pinned.Floats((long)pixels * Chunk * shape.Filters, out _deltaT),
            Pinned.Floats((long)shape.PatchSize * shape.Filters, out _weightGradT),
        ];
    }

    /// <summary>Whether a call reads the patches in place (no column matrix) on the path in force.</summary>
    internal bool ReadsPatchesInPlace => _plane is not null && Kernels.Path != KernelPath.Scalar;

    public ConvShape Shape { get; }

    /// <summary>Threads for the products (null: the calling thread); the same bits either way.</summary>
    public GemmTeam? Team { get; set; }

    /// <summary><paramref name="output"/> [rows × OutputSize] = conv(<paramref name="input"/> [rows × InputSize]) with <paramref name="parameters"/> (weights, then biases).</summary>
    public void Forward(ReadOnlySpan<float> input, int rows, ReadOnlySpan<float> parameters, Span<float> output) =>
        Forward(Team ?? GemmTeam.CallingThread, input, rows, parameters, output);

    /// <summary>
    /// The gradient (sum over the <paramref name="rows"/> samples) of the weights and biases into <paramref name="gradient"/>
    /// (overwritten; same layout as the parameters), and, unless <paramref name="inputGradient"/> is empty, dE/dx [rows × InputSize].
    /// </summary>
    public void Backward(ReadOnlySpan<float> input, ReadOnlySpan<float> delta, int rows, ReadOnlySpan<float> parameters,
        Span<float> gradient, Span<float> inputGradient) =>
        Backward(Team ?? GemmTeam.CallingThread, input, delta, rows, parameters, gradient, inputGradient);

    /// <summary><see cref="Forward(ReadOnlySpan{float}, int, ReadOnlySpan{float}, Span{float})"/> with the products on <paramref name="gemm"/>.</summary>
    internal void Forward(GemmTeam gemm, ReadOnlySpan<float> input, int rows, ReadOnlySpan<float> parameters, Span<float> output)
    {
        Check(input, rows, parameters, output.Length, nameof(output));
        var s = Shape;
        int pixels = s.OutHeight * s.OutWidth;
        float* cols = _cols, wide = _wide;
        fixed (float* x = input)
        fixed (float* p = parameters)
        fixed (float* z = output)
            for (int r0 = 0; r0 < rows; r0 += Chunk)
            {
                int n = System.Math.Min(Chunk, rows - r0), width = n * pixels;
                float* bias = p + s.Filters * s.PatchSize;
                // Z [Filters × n·pixels] = W [Filters × PatchSize] · cols [PatchSize × n·pixels]
                if (ReadsPatchesInPlace)
                {
                    var plane = _plane!;
                    int computed = n * plane.PerSample;
                    float* planes = plane.Input(x, r0, n);
                    fixed (int* patch = plane.PatchOffsets, runs = plane.RunOffsets)
                        gemm.MatMulGatherB(s.Filters, computed, s.PatchSize, p, s.PatchSize, planes, patch, runs, wide, computed, accumulate: false);
                    plane.Output(wide, computed, n, bias, z + (long)r0 * s.OutputSize);
                    continue;
                }
                for (int r = 0; r < n; r++) Patches(x + (long)(r0 + r) * s.InputSize, cols + r * pixels, width, gather: true);
                gemm.MatMul(s.Filters, width, s.PatchSize, p, s.PatchSize, 1, cols, width, wide, width, accumulate: false);
                for (int r = 0; r < n; r++)
                {
                    float* zr = z + (long)(r0 + r) * s.OutputSize;
                    for (int f = 0; f < s.Filters; f++)
                    {
                        ConvPlane.AddBias(wide + (long)f * width + r * pixels, bias[f], zr + f * pixels, pixels);
                    }
                }
            }
    }

    /// <summary><see cref="Backward(ReadOnlySpan{float}, ReadOnlySpan{float}, int, ReadOnlySpan{float}, Span{float}, Span{float})"/> with the products on <paramref name="gemm"/>.</summary>
    internal void Backward(GemmTeam gemm, ReadOnlySpan<float> input, ReadOnlySpan<float> delta, int rows, ReadOnlySpan<float> parameters,
        Span<float> gradient, Span<float> inputGradient)
    {
        Check(input, rows, parameters, delta.Length, nameof(delta));
        var s = Shape;
        if (gradient.Length != s.ParameterCount) throw new ArgumentException($"gradient holds {gradient.Length} values, the layer has {s.ParameterCount}");
        if (!inputGradient.IsEmpty && inputGradient.Length < rows * s.InputSize) throw new ArgumentException("input gradient too small");
        int pixels = s.OutHeight * s.OutWidth;
        var bias = gradient.Slice(s.Filters * s.PatchSize, s.Filters);
        bias.Clear();
        float* cols = _cols, wide = _wide, dT = _deltaT, gT = _weightGradT;
        fixed (float* x = input)
        fixed (float* d = delta)
        fixed (float* p = parameters)
        fixed (float* dx = inputGradient)
        {
            for (int r0 = 0; r0 < rows; r0 += Chunk)
            {
                int n = System.Math.Min(Chunk, rows - r0), width = n * pixels;
                bool inPlace = ReadsPatchesInPlace;
                for (int r = 0; r < n; r++)
                {
                    float* dr = d + (long)(r0 + r) * s.OutputSize;
                    if (!inPlace) Patches(x + (long)(r0 + r) * s.InputSize, cols + r * pixels, width, gather: true);
                    Gemm.Transpose(s.Filters, pixels, dr, dT + (long)r * pixels * s.Filters);
                    BiasSums(dT + (long)r * pixels * s.Filters, pixels, s.Filters, bias);
                }
                // dWᵀ [PatchSize × Filters] (+)= cols [PatchSize × n·pixels] · δᵀ [n·pixels × Filters]
                if (inPlace)
                    fixed (int* patch = _plane!.PatchOffsets, at = _plane.PixelOffsets)
                        gemm.MatMulGatherA(s.PatchSize, s.Filters, width, _plane.Input(x, r0, n), patch, at, dT, s.Filters, gT, s.Filters, accumulate: r0 > 0);
                else gemm.MatMul(s.PatchSize, s.Filters, width, cols, width, 1, dT, s.Filters, gT, s.Filters, accumulate: r0 > 0);
                if (inputGradient.IsEmpty) continue;
                if (inPlace)
                {
                    // dx = col2im(Wᵀ · δ), the product a band of patch rows at a time
                    float* planes = _plane!.Gradient(dx, r0, n);
                    GatherDelta(d + (long)r0 * s.OutputSize, n, wide, width);
                    ScatterProduct(gemm, p, wide, width, n, cols, planes);
                    _plane.GradientOut(planes, dx, r0, n);
                    continue;
                }
                // dcols [PatchSize × n·pixels] = Wᵀ · δ, δ gathered as [Filters × n·pixels]; then every patch value back onto its pixel
                GatherDelta(d + (long)r0 * s.OutputSize, n, wide, width);
                gemm.MatMul(s.PatchSize, width, s.Filters, p, 1, s.PatchSize, wide, width, cols, width, accumulate: false);
                for (int r = 0; r < n; r++)
                {
                    float* dxr = dx + (long)(r0 + r) * s.InputSize;
                    new Span<float>(dxr, s.InputSize).Clear();
                    Patches(dxr, cols + r * pixels, width, gather: false);
                }
            }
            if (rows == 0) new Span<float>(gT, s.PatchSize * s.Filters).Clear();
            fixed (float* g = gradient)
                Gemm.Transpose(s.PatchSize, s.Filters, gT, g); // dW [Filters × PatchSize]
        }
    }

    /// <summary>
    /// col2im of Wᵀ·δ without the whole column matrix: the product is computed a band of patch rows at a time into
    /// <paramref name="band"/> (a few KB, in cache), and each row's values are added onto their pixels of the gradient
    /// <paramref name="planes"/>, rows in order — each pixel collects its values in the order of the whole matrix's scatter
    /// (<see cref="Patches"/>), so the same bits.
    /// </summary>
    private void ScatterProduct(GemmTeam gemm, float* p, float* wide, int width, int n, float* band, float* planes)
    {
        var s = Shape;
        int bandRows = System.Math.Max(6, 16384 / width / 6 * 6);
        for (int i0 = 0; i0 < s.PatchSize; i0 += bandRows)
        {
            int rowsHere = System.Math.Min(bandRows, s.PatchSize - i0);
            gemm.MatMul(rowsHere, width, s.Filters, p + i0, 1, s.PatchSize, wide, width, band, width, accumulate: false);
            for (int r = 0; r < rowsHere; r++) _plane!.Scatter(band + (long)r * width, n, planes, i0 + r);
        }
    }

    /// <summary>δ of <paramref name="n"/> samples ([Filters × pixels] each) side by side as [Filters × n·pixels] in <paramref name="wide"/>.</summary>
    private void GatherDelta(float* d, int n, float* wide, int width)
    {
        int pixels = Shape.OutHeight * Shape.OutWidth;
        for (int r = 0; r < n; r++)
            for (int f = 0; f < Shape.Filters; f++)
                new ReadOnlySpan<float>(d + (long)r * Shape.OutputSize + f * pixels, pixels).CopyTo(new Span<float>(wide + (long)f * width + r * pixels, pixels));
    }

    /// <summary>
    /// bias[f] += Σⱼ δ[f, j], each filter's sum from zero over its pixels in order — read from δᵀ [pixels × filters], whose
    /// rows hold every filter's value of one pixel, so 8 filters' sums run side by side in a vector's lanes: the same chain
    /// of additions per filter as one at a time, without waiting on each addition.
    /// </summary>
    private static void BiasSums(float* deltaT, int pixels, int filters, Span<float> bias)
    {
        int f = 0;
        for (; f + 8 <= filters; f += 8)
        {
            var sum = Vector256<float>.Zero;
            for (int j = 0; j < pixels; j++) sum += Vector256.Load(deltaT + (long)j * filters + f);
            for (int l = 0; l < 8; l++) bias[f + l] += sum[l];
        }
        for (; f < filters; f++)
        {
            float sum = 0;
            for (int j = 0; j < pixels; j++) sum += deltaT[(long)j * filters + f];
            bias[f] += sum;
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

    /// <summary>
    /// Walks cols[(c, ky, kx), (oy, ox)] ↔ x[c, oy·S + ky − P, ox·S + kx − P], a patch row every <paramref name="ld"/> floats:
    /// gathering sets each patch value from its pixel (0 outside the input); scattering adds each patch value onto its
    /// pixel (col2im, the adjoint of im2col).
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private static void Copy(float* from, float* to, int n)
    {
        int i = 0;
        for (; i + 8 <= n; i += 8) Vector256.Store(Vector256.Load(from + i), to + i);
        for (; i < n; i++) to[i] = from[i];
    }

    private void Patches(float* x, float* cols, int ld, bool gather)
    {
        var s = Shape;
        int oh = s.OutHeight, ow = s.OutWidth;
        for (int c = 0; c < s.Channels; c++)
            for (int ky = 0; ky < s.KernelHeight; ky++)
                for (int kx = 0; kx < s.KernelWidth; kx++)
                {
                    float* row = cols + (long)((c * s.KernelHeight + ky) * s.KernelWidth + kx) * ld;
                    // the outputs whose input column ox·S + kx − P falls inside the row: [first, last); the rest read padding
                    // (the same for every output row: worked out once, its divisions out of the loop)
                    int shift = kx - s.Padding;
                    int first = shift >= 0 ? 0 : System.Math.Min(ow, (-shift + s.Stride - 1) / s.Stride);
                    int last = shift > s.Width - 1 ? first : System.Math.Max(first, System.Math.Min(ow, (s.Width - 1 - shift) / s.Stride + 1));
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
                        if (gather)
                        {
                            for (int ox = 0; ox < first; ox++) patch[ox] = 0f;
                            for (int ox = last; ox < ow; ox++) patch[ox] = 0f;
                        }
                        if (s.Stride == 1)
                        {
                            // a contiguous run of input pixels (short — a few to a few dozen — so copied here, not through a call)
                            float* run = pixels + first + shift;
                            if (gather) Copy(run, patch + first, last - first);
                            else Elementwise.AddInto(run, patch + first, last - first);
                            continue;
                        }
                        for (int ox = first; ox < last; ox++)
                        {
                            int ix = ox * s.Stride + shift;
                            if (gather) patch[ox] = pixels[ix];
                            else pixels[ix] += patch[ox];
                        }
                    }
                }
    }
}
