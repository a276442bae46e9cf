using DistributedNN.Model;
using DistributedNN.Numerics;

namespace DistributedNN.Training;

/// <summary>
/// Image augmentation at training time, as torchvision's RandomCrop(size, padding = <see cref="Pad"/>) followed by
/// RandomHorizontalFlip: the image is shifted by (dy, dx) ∈ [−Pad, Pad]² with zeros coming in at the edges, and mirrored
/// left–right with probability ½. The draws come from (seed, epoch, sample index) alone — Rng stream 5 — so a worker's
/// shard sees the very pixels one process would, and a resumed run the ones it would have seen.
/// </summary>
public sealed record Augmentation(int Pad = 0, bool Flip = false)
{
    public const int MaxPad = 64;

    public bool IsNone => Pad == 0 && !Flip;

    /// <summary>Rejects settings that do not fit the network's input (named by the options).</summary>
    public void Validate(TensorShape input)
    {
        if (Pad is < 0 or > MaxPad) throw new UserErrorException($"--random-crop must be from 0 to {MaxPad} pixels (got {Pad})");
        if (!IsNone && input.IsFlat)
            throw new UserErrorException($"--random-crop and --random-flip move image pixels, but the network's input is {input.Size} features, not an image: give a model spec whose \"input\" is [channels, height, width]");
    }

    /// <summary>Sample <paramref name="sample"/> of <paramref name="data"/> in <paramref name="epoch"/>, augmented, into
    /// <paramref name="into"/> (<paramref name="scratch"/>: room for one sample, for the pixels before they move).</summary>
    public void Gather(Data.Dataset data, int sample, TensorShape shape, ulong seed, int epoch, Span<float> into, Span<float> scratch)
    {
        if (IsNone)
        {
            data.CopySample(sample, into);
            return;
        }
        data.CopySample(sample, scratch);
        Apply(scratch[..data.FeatureCount], shape, seed, epoch, sample, into);
    }

    /// <summary>Sample <paramref name="sample"/>'s pixels in <paramref name="epoch"/>, augmented, into <paramref name="into"/>.</summary>
    public void Apply(ReadOnlySpan<float> image, TensorShape shape, ulong seed, int epoch, int sample, Span<float> into)
    {
        if (IsNone)
        {
            image.CopyTo(into);
            return;
        }
        var rng = Rng.For(seed, stream: 5, index: ((ulong)(uint)epoch << 32) | (uint)sample);
        int dy = Pad == 0 ? 0 : rng.NextInt(2 * Pad + 1) - Pad, dx = Pad == 0 ? 0 : rng.NextInt(2 * Pad + 1) - Pad;
        bool flip = Flip && rng.NextInt(2) == 1;
        int h = shape.Height, w = shape.Width;
        for (int c = 0; c < shape.Channels; c++)
        {
            var source = image.Slice(c * h * w, h * w);
            var target = into.Slice(c * h * w, h * w);
            for (int y = 0; y < h; y++)
            {
                int sy = y + dy;
                for (int x = 0; x < w; x++)
                {
                    int sx = (flip ? w - 1 - x : x) + dx;
                    target[y * w + x] = sy >= 0 && sy < h && sx >= 0 && sx < w ? source[sy * w + sx] : 0f;
                }
            }
        }
    }
}
