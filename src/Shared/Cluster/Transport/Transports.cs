namespace DistributedNN.Transport;

/// <summary>How weights and gradients travel between coordinator and workers.</summary>
public static class Transports
{
    /// <summary>Direct TCP streams (the data plane): the default.</summary>
    public const string Tcp = "tcp";
    /// <summary>Akka.Remote messages of raw-float chunks (<see cref="TensorChunk"/>): the fallback, ~15× slower.</summary>
    public const string Akka = "akka";
    /// <summary>
    /// Shared memory (<see cref="SharedTensorFile"/>) for workers on the coordinator's machine: the tensors never pass
    /// through a socket, and a step's orders and results go through each worker's <see cref="SharedMailbox"/>.
    /// </summary>
    public const string Shm = "shm";

    public static string Parse(string text) => text.Trim().ToLowerInvariant() switch
    {
        "tcp" => Tcp,
        "akka" => Akka,
        "shm" => Shm,
        _ => throw new UserErrorException($"--transport '{text}' is not one of tcp, shm, akka, auto"),
    };
}

/// <summary>How shard gradients (and, separately, weights) travel on the data plane.</summary>
public static class GradientFormats
{
    /// <summary>float32, bit for bit: the default, and what keeps every run bit-identical to one process.</summary>
    public const string Fp32 = "fp32";
    /// <summary>bfloat16, rounded to nearest even: half the bytes up; the coordinator sums in float32.</summary>
    public const string Bf16 = "bf16";

    /// <summary>Parses the value of <paramref name="option"/> (--gradient-format or --weight-format).</summary>
    public static string Parse(string text, string option) => text.Trim().ToLowerInvariant() switch
    {
        "fp32" or "float32" => Fp32,
        "bf16" or "bfloat16" => Bf16,
        _ => throw new UserErrorException($"{option} '{text}' is not one of fp32, bf16"),
    };

    /// <summary>The frame kind weights of <paramref name="format"/> travel as.</summary>
    public static TensorKind WeightsKind(string format) => format == Bf16 ? TensorKind.WeightsBf16 : TensorKind.Weights;

    /// <summary>The frame kind a gradient of <paramref name="format"/> travels as.</summary>
    public static TensorKind Kind(string format) => format == Bf16 ? TensorKind.ShardGradientBf16 : TensorKind.ShardGradient;
}
