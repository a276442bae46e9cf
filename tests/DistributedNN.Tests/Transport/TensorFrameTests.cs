using System.Buffers.Binary;
using DistributedNN.Transport;
using static DistributedNN.Tests.Transport.TransportTestKit;

namespace DistributedNN.Tests.Transport;

public sealed class TensorFrameTests
{
    [Fact]
    public void The_header_is_48_little_endian_bytes_in_the_documented_order()
    {
        var job = Guid.NewGuid();
        var header = new TensorHeader(job, Step: 0x0102030405060708, Version: -2, TensorKind.ShardGradient, Shard: 17, Count: 235_146);
        var bytes = new byte[TensorFrame.HeaderSize];
        TensorFrame.WriteHeader(header, bytes);

        Assert.Equal(48, TensorFrame.HeaderSize);
        Assert.Equal("DNNT"u8.ToArray(), bytes[..4]);
        Assert.Equal(1, bytes[4]);
        Assert.Equal(2, bytes[5]);
        Assert.Equal(0, BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(6)));
        Assert.Equal(job.ToByteArray(), bytes[8..24]);
        Assert.Equal(new byte[] { 8, 7, 6, 5, 4, 3, 2, 1 }, bytes[24..32]);
        Assert.Equal(-2L, BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(32)));
        Assert.Equal(17, BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(40)));
        Assert.Equal(235_146, BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(44)));

        Assert.Equal(header, TensorFrame.ReadHeader(bytes, maxCount: 235_146));
    }

    [Fact]
    public void Every_malformed_header_is_refused_with_a_one_line_reason()
    {
        var good = HeaderBytes(Header(TensorKind.Weights, 10));
        string Reason(Action<byte[]> spoil, int maxCount = 100)
        {
            var bytes = (byte[])good.Clone();
            spoil(bytes);
            Assert.False(TensorFrame.TryReadHeader(bytes, maxCount, out var header, out var error));
            Assert.Equal(default, header);
            Assert.DoesNotContain('\n', error);
            Assert.Throws<TensorProtocolException>(() => TensorFrame.ReadHeader(bytes, maxCount));
            return error;
        }

        Assert.Contains("magic 0x544E4E45", Reason(b => b[0] = 0x45));
        Assert.Contains("format version 0 is not supported", Reason(b => b[4] = 0));
        Assert.Contains("unknown tensor kind 13", Reason(b => b[5] = 13));
        Assert.Contains("reserved header field is 1", Reason(b => b[6] = 1));
        Assert.Contains("exceeds the limit of 9", Reason(_ => { }, maxCount: 9));
        Assert.Contains("negative float count", Reason(b => BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(44), int.MinValue)));
        Assert.Contains("invalid shard index -3", Reason(b => BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(40), -3)));
        Assert.False(TensorFrame.TryReadHeader(good.AsSpan(0, 47), 100, out _, out var shortError));
        Assert.Contains("needs 48 bytes, got 47", shortError);
    }

    [Fact]
    public void Writing_an_invalid_header_is_an_argument_error()
    {
        var buffer = new byte[48];
        Assert.Throws<ArgumentException>(() => TensorFrame.WriteHeader(Header((TensorKind)0, 1), buffer));
        Assert.Throws<ArgumentException>(() => TensorFrame.WriteHeader(Header(TensorKind.Weights, -1), buffer));
        Assert.Throws<ArgumentException>(() => TensorFrame.WriteHeader(Header(TensorKind.Weights, 1), new byte[47]));
    }

    [Theory]
    [InlineData(TensorKind.Result)]
    [InlineData(TensorKind.Layout)]
    [InlineData(TensorKind.SliceState)]
    [InlineData(TensorKind.GradientSlice)]
    [InlineData(TensorKind.WeightsSlice)]
    [InlineData(TensorKind.PeerHello)]
    [InlineData(TensorKind.SliceSum)]
    public void The_sharded_topologys_frames_carry_their_layout_at_offset_6(TensorKind kind)
    {
        foreach (ushort layout in new ushort[] { 0, 1, 0x0102, ushort.MaxValue })
        {
            var header = Header(kind, 12, shard: 4) with { Layout = layout };
            var bytes = HeaderBytes(header);
            Assert.Equal(layout, BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(6)));
            var read = TensorFrame.ReadHeader(bytes, maxCount: 12);
            Assert.Equal(header, read);
            Assert.Equal(layout, read.Layout);
        }
    }

    [Theory]
    [InlineData(TensorKind.Weights)]
    [InlineData(TensorKind.ShardGradient)]
    [InlineData(TensorKind.ShardGradientBf16)]
    [InlineData(TensorKind.WeightsBf16)]
    [InlineData(TensorKind.Order)]
    public void The_star_frames_keep_offset_6_reserved_on_read_and_on_write(TensorKind kind)
    {
        foreach (ushort layout in new ushort[] { 1, 0x0100, ushort.MaxValue })
        {
            var bytes = HeaderBytes(Header(kind, 12));
            BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(6), layout);
            Assert.False(TensorFrame.TryReadHeader(bytes, 12, out var header, out var error));
            Assert.Equal(default, header);
            Assert.Equal($"reserved header field is {layout}, expected 0", error);
            var e = Assert.Throws<ArgumentException>(() => TensorFrame.WriteHeader(Header(kind, 12) with { Layout = layout }, new byte[TensorFrame.HeaderSize]));
            Assert.Contains($"a {kind} frame carries no layout", e.Message);
        }
    }
}
