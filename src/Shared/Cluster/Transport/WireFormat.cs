namespace DistributedNN.Transport;

/// <summary>How shard gradients (and, separately, the weights) travel on the data plane.</summary>
public enum WireFormat
{
    /// <summary>float32, bit for bit: the default, and what keeps every run bit-identical to one process.</summary>
    Fp32,
    /// <summary>bfloat16, rounded to nearest even: half the bytes; the coordinator keeps and sums float32.</summary>
    Bf16,
}

public static class WireFormats
{
    /// <summary>Parses the value of <paramref name="option"/> (--gradient-format or --weight-format).</summary>
    public static WireFormat Parse(string text, string option) => text.Trim().ToLowerInvariant() switch
    {
        "fp32" or "float32" => WireFormat.Fp32,
        "bf16" or "bfloat16" => WireFormat.Bf16,
        _ => throw new UserErrorException($"{option} '{text}' is not one of fp32, bf16"),
    };

    /// <summary>The name the options take and metrics show.</summary>
    public static string Name(this WireFormat format) => format.ToString().ToLowerInvariant();

    /// <summary>The frame kind weights of <paramref name="format"/> travel as.</summary>
    public static TensorKind WeightsKind(this WireFormat format) => format == WireFormat.Bf16 ? TensorKind.WeightsBf16 : TensorKind.Weights;

    /// <summary>The frame kind a gradient of <paramref name="format"/> travels as.</summary>
    public static TensorKind GradientKind(this WireFormat format) => format == WireFormat.Bf16 ? TensorKind.ShardGradientBf16 : TensorKind.ShardGradient;
}
