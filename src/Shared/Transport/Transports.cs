namespace DistributedNN.Transport;

/// <summary>How weights and gradients travel between coordinator and workers.</summary>
public static class Transports
{
    /// <summary>Direct TCP streams (the data plane): the default.</summary>
    public const string Tcp = "tcp";
    /// <summary>Akka.Remote messages of raw-float chunks (<see cref="TensorChunk"/>): the fallback, ~15× slower.</summary>
    public const string Akka = "akka";

    public static string Parse(string text) => text.Trim().ToLowerInvariant() switch
    {
        "tcp" => Tcp,
        "akka" => Akka,
        _ => throw new UserErrorException($"--transport '{text}' is not one of tcp, akka"),
    };
}
