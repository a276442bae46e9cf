using DistributedNN.Model;
using DistributedNN.Numerics;

namespace DistributedNN.Tests.Engine;

/// <summary>
/// The convolution's products reading the patches where they lie, in the input or in bordered (phase) planes copied from
/// it (implicit im2col on a vector path), against the same products on the copied patch matrix (the scalar path takes that
/// way): the same bits, with and without padding and strides, for output rows of whole vectors and not.
/// </summary>
[Collection(KernelPathCollection.Name)]
public sealed class Conv2DInPlaceTests
{
    public static TheoryData<ConvShape> InPlaceShapes() => new()
    {
        new ConvShape(1, 28, 28, 32, 5, 5), // examples/cnn.json's layers: 24 × 24 and 8 × 8 outputs
        new ConvShape(4, 12, 12, 64, 5, 5),
        new ConvShape(3, 10, 11, 16, 3, 4), // a non-square kernel, 8 × 8 out
        new ConvShape(8, 12, 12, 16, 5, 5), // patches of 200 values: the forward's chains cross k-blocks
        // bordered planes: padding, or output rows that are not whole vectors (examples/fashion-resnet.json's 3×3 stages)
        new ConvShape(1, 28, 28, 16, 3, 3, Stride: 1, Padding: 1),
        new ConvShape(16, 14, 14, 32, 3, 3, Stride: 1, Padding: 1),
        new ConvShape(32, 7, 7, 64, 3, 3, Stride: 1, Padding: 1),
        new ConvShape(3, 12, 13, 16, 5, 5), // 8 × 9 outputs, no padding
        new ConvShape(2, 9, 8, 16, 4, 3, Stride: 1, Padding: 2), // a kernel column wholly in the border at each edge
        // strides: phase planes (examples/fashion-resnet.json's downsampling convolutions, and odd sizes)
        new ConvShape(16, 28, 28, 32, 3, 3, Stride: 2, Padding: 1),
        new ConvShape(3, 11, 9, 16, 4, 5, Stride: 2, Padding: 2),
        new ConvShape(2, 13, 14, 16, 5, 3, Stride: 3, Padding: 1),
    };

    [Theory]
    [MemberData(nameof(InPlaceShapes))]
    public void Patches_read_in_place_give_the_bits_of_the_copied_patch_matrix(ConvShape s)
    {
        // the scalar path copies the patches into the column matrix; the vector paths read them where they lie, on one thread or a team
        int rows = Conv2D.Chunk + 3;
        var x = Conv2DTests.Random(rows * s.InputSize, 11).Select(v => (float)v).ToArray();
        var p = Conv2DTests.Random(s.ParameterCount, 12).Select(v => (float)v).ToArray();
        var t = Conv2DTests.Random(rows * s.OutputSize, 13).Select(v => (float)v).ToArray();
        float[] z, g, dx;
        using (KernelPathScope.Use(KernelPath.Scalar))
        {
            var copied = new Conv2D(s);
            Assert.False(copied.ReadsPatchesInPlace);
            (z, g, dx) = Run(copied, s, x, rows, p, t);
        }
        var expected = Conv2DTests.Reference(s, x.Select(v => (double)v).ToArray(), rows, p.Select(v => (double)v).ToArray());
        for (int i = 0; i < z.Length; i++) Assert.Equal(expected[i], z[i], 1e-4);
        using var team = new GemmTeam(2);
        foreach (var path in new[] { KernelPath.Vector256, KernelPath.Auto })
            foreach (var threads in new[] { GemmTeam.CallingThread, team })
                using (KernelPathScope.Use(path))
                {
                    var conv = new Conv2D(s) { Team = threads };
                    Assert.True(conv.ReadsPatchesInPlace);
                    var (z2, g2, dx2) = Run(conv, s, x, rows, p, t);
                    Assert.Equal(z, z2);
                    Assert.Equal(g, g2);
                    Assert.Equal(dx, dx2);
                }
    }

    [Fact]
    public void Narrow_filter_banks_and_the_scalar_path_take_the_copied_patch_matrix()
    {
        Assert.False(new Conv2D(new ConvShape(1, 12, 12, 8, 5, 5)).ReadsPatchesInPlace);  // 8 filters: no 16-wide panel
        using (KernelPathScope.Use(KernelPath.Scalar)) Assert.False(new Conv2D(new ConvShape(1, 28, 28, 32, 5, 5)).ReadsPatchesInPlace);
    }

    private static (float[] Z, float[] G, float[] Dx) Run(Conv2D conv, ConvShape s, float[] x, int rows, float[] p, float[] t)
    {
        var z = new float[rows * s.OutputSize];
        conv.Forward(x, rows, p, z);
        var g = new float[s.ParameterCount];
        var dx = new float[rows * s.InputSize];
        conv.Backward(x, t, rows, p, g, dx);
        return (z, g, dx);
    }
}
