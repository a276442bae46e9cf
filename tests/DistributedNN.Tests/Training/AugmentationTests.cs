using DistributedNN.Model;
using DistributedNN.Training;

namespace DistributedNN.Tests.Training;

/// <summary>Random crops (shifts with zeros coming in) and flips, drawn from (seed, epoch, sample) alone.</summary>
public sealed class AugmentationTests
{
    private static readonly TensorShape Shape = new(2, 5, 6);

    private static float[] Image() => Enumerable.Range(0, Shape.Size).Select(i => 1f + i).ToArray(); // every pixel distinct, none 0

    // the image shifted by (dy, dx) after an optional mirror, zeros outside
    private static float[] Moved(float[] image, int dy, int dx, bool flip)
    {
        var into = new float[image.Length];
        for (int c = 0; c < Shape.Channels; c++)
            for (int y = 0; y < Shape.Height; y++)
                for (int x = 0; x < Shape.Width; x++)
                {
                    int sy = y + dy, sx = (flip ? Shape.Width - 1 - x : x) + dx;
                    into[(c * Shape.Height + y) * Shape.Width + x] = sy is >= 0 and < 5 && sx is >= 0 and < 6 ? image[(c * Shape.Height + sy) * Shape.Width + sx] : 0f;
                }
        return into;
    }

    [Fact]
    public void Each_sample_is_one_shift_and_mirror_of_the_image_the_same_every_time_and_they_vary()
    {
        var aug = new Augmentation(Pad: 2, Flip: true);
        var image = Image();
        var seen = new HashSet<(int, int, bool)>();
        for (int sample = 0; sample < 300; sample++)
        {
            var a = new float[image.Length];
            var b = new float[image.Length];
            aug.Apply(image, Shape, 7, 3, sample, a);
            aug.Apply(image, Shape, 7, 3, sample, b);
            Assert.Equal(a, b);
            var matches = (from dy in Enumerable.Range(-2, 5) from dx in Enumerable.Range(-2, 5) from flip in new[] { false, true }
                           where Moved(image, dy, dx, flip).SequenceEqual(a) select (dy, dx, flip)).ToList();
            Assert.Single(matches);
            seen.Add(matches[0]);
        }
        Assert.Equal(50, seen.Count); // every shift in ±2 × ±2, each mirrored or not
        // another epoch draws again; no augmentation copies
        var other = new float[image.Length];
        var first = new float[image.Length];
        aug.Apply(image, Shape, 7, 3, 0, first);
        Assert.Contains(Enumerable.Range(4, 20), e => { aug.Apply(image, Shape, 7, e, 0, other); return !other.SequenceEqual(first); });
        new Augmentation().Apply(image, Shape, 7, 3, 0, other);
        Assert.Equal(image, other);
    }

    [Fact]
    public void It_is_refused_for_an_input_that_is_no_image()
    {
        var e = Assert.Throws<UserErrorException>(() => new Augmentation(2).Validate(TensorShape.Flat(784)));
        Assert.Contains("not an image", e.Message);
        Assert.Throws<UserErrorException>(() => new Augmentation(65).Validate(Shape));
    }
}
