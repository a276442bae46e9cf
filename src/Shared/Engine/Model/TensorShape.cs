namespace DistributedNN.Model;

/// <summary>The shape of one sample's tensor, channels × height × width (NCHW without N); a flat vector is n × 1 × 1.</summary>
public readonly record struct TensorShape(int Channels, int Height, int Width)
{
    public int Size => Channels * Height * Width;
    public bool IsFlat => Height == 1 && Width == 1;
    public static TensorShape Flat(int n) => new(n, 1, 1);
    public override string ToString() => IsFlat ? $"{Channels}" : $"{Channels}×{Height}×{Width}";
}
