using System.Net;
using DistributedNN.Numerics;
using DistributedNN.Transport;
using static DistributedNN.Tests.Transport.TransportTestKit;

namespace DistributedNN.Tests.Transport;

/// <summary>bfloat16 gradients on the wire: rounding to nearest even, non-finite values kept, frames of half the bytes.</summary>
public sealed class BFloat16Tests
{
    // the reference: the nearest bf16 by exhaustive comparison of the two candidates, ties to the even one
    private static ushort Reference(float x)
    {
        uint bits = BitConverter.SingleToUInt32Bits(x);
        if (float.IsNaN(x)) return 0x7FC0;
        ushort down = (ushort)(bits >> 16), up = (ushort)(down + 1);
        if ((bits & 0xFFFF) == 0) return down;
        double dx = x, dDown = BFloat16.ToFloat(down), dUp = float.IsInfinity(BFloat16.ToFloat(down)) ? double.PositiveInfinity : BFloat16.ToFloat(up);
        if ((down & 0x7F80) == 0x7F00 && (down & 0x7F) == 0x7F) dUp = Math.Sign(dx) * Math.Pow(2, 128); // past the largest finite: the "next" is 2^128 → ∞
        double eDown = Math.Abs(dx - dDown), eUp = Math.Abs(dUp - dx);
        if (eDown < eUp) return down;
        if (eUp < eDown) return up;
        return (down & 1) == 0 ? down : up;
    }

    [Fact]
    public void Rounding_is_to_nearest_even_and_non_finite_values_stay_non_finite()
    {
        var rng = new Rng(11);
        var values = new List<float> { 0f, -0f, 1f, -1f, 1.00390625f /* tie: 1 + 2^-8 → 1 */, 1.01171875f /* tie → up to even */,
            float.MaxValue, -float.MaxValue, float.Epsilon, float.PositiveInfinity, float.NegativeInfinity, 3.0e38f };
        for (int i = 0; i < 20_000; i++)
        {
            float x = BitConverter.UInt32BitsToSingle((uint)(rng.NextDouble() * uint.MaxValue));
            if (!float.IsNaN(x)) values.Add(x);
        }
        foreach (float x in values)
            Assert.True(Reference(x) == BFloat16.FromFloat(x), $"{x:R} (0x{BitConverter.SingleToUInt32Bits(x):X8}): 0x{BFloat16.FromFloat(x):X4}, expected 0x{Reference(x):X4}");
        Assert.Equal(1f, BFloat16.ToFloat(BFloat16.FromFloat(1.00390625f)));
        Assert.Equal(1.015625f, BFloat16.ToFloat(BFloat16.FromFloat(1.01171875f)));
        Assert.True(float.IsPositiveInfinity(BFloat16.ToFloat(BFloat16.FromFloat(float.MaxValue)))); // rounds past the largest bf16
        foreach (uint nan in new[] { 0x7FC00000u, 0x7F800001u, 0xFF800001u, 0x7F80FFFFu })
            Assert.True(float.IsNaN(BFloat16.ToFloat(BFloat16.FromFloat(BitConverter.UInt32BitsToSingle(nan)))), $"NaN 0x{nan:X8} lost");
    }

    [Fact]
    public void The_vector_paths_give_the_scalar_results_and_widening_is_exact()
    {
        foreach (int n in new[] { 0, 1, 7, 15, 16, 17, 33, 1000 })
        {
            var x = Pattern(n, n + 5); // every bit pattern, NaNs included
            var narrow = new ushort[n];
            BFloat16.Narrow(x, narrow);
            for (int i = 0; i < n; i++) Assert.Equal(BFloat16.FromFloat(x[i]), narrow[i]);
            var wide = new float[n];
            BFloat16.Widen(narrow, wide);
            for (int i = 0; i < n; i++) Assert.Equal((uint)narrow[i] << 16, BitConverter.SingleToUInt32Bits(wide[i]));
        }
    }

    [Fact]
    [Trait(TestTiers.Category, TestTiers.Integration)]
    public async Task A_bf16_gradient_frame_carries_half_the_bytes_and_arrives_rounded()
    {
        await using var pair = await ConnectPairAsync(TensorChannelOptions.ForModel(100_000), TensorChannelOptions.ForModel(100_000));
        var sink = new QueueSink();
        _ = pair.Server.ReceiveLoopAsync(sink);
        var gradient = Pattern(99_999, 3);
        var header = Header(TensorKind.ShardGradientBf16, gradient.Length, shard: 2);
        Assert.Equal(2L * gradient.Length, header.PayloadBytes);
        await pair.Client.SendAsync(header, gradient);
        await pair.Client.SendAsync(Header(TensorKind.ShardGradient, gradient.Length, shard: 3), gradient); // fp32 after it, same channel
        var bf16 = await sink.NextAsync();
        var fp32 = await sink.NextAsync();
        Assert.Equal(TensorKind.ShardGradientBf16, bf16.Header.Kind);
        var expected = new float[gradient.Length];
        for (int i = 0; i < gradient.Length; i++) expected[i] = BFloat16.ToFloat(BFloat16.FromFloat(gradient[i]));
        AssertBitsEqual(expected, bf16.Payload);
        AssertBitsEqual(gradient, fp32.Payload);
        Assert.Equal(gradient.Length * 6L, pair.Client.BytesSent);

        // bf16 weights the other way, into the client
        var clientSink = new QueueSink();
        _ = pair.Client.ReceiveLoopAsync(clientSink);
        await pair.Server.SendAsync(Header(TensorKind.WeightsBf16, gradient.Length), gradient);
        var weights = await clientSink.NextAsync();
        Assert.Equal(TensorKind.WeightsBf16, weights.Header.Kind);
        AssertBitsEqual(expected, weights.Payload);
        Assert.Equal(gradient.Length * 2L, pair.Server.BytesSent);
    }
}
