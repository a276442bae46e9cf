namespace DistributedNN.Transport;

/// <summary>How weights, gradients and a step's orders and results travel between the coordinator and a worker.</summary>
public enum TransportKind
{
    /// <summary>Direct TCP streams (the data plane): the default for workers on other machines.</summary>
    Tcp,
    /// <summary>
    /// Shared memory for workers on the coordinator's machine: the weights in one mapped file, each worker's gradients
    /// in its own, orders and results through a mailbox (<see cref="SharedMailbox"/>); nothing passes through a socket.
    /// </summary>
    Shm,
    /// <summary>Akka.Remote messages of raw-float chunks (<see cref="TensorChunk"/>): the fallback, ~15× slower.</summary>
    Akka,
}

public static class TransportKinds
{
    /// <summary>The value of --transport (auto is the caller's to resolve).</summary>
    public static TransportKind Parse(string text) => text.Trim().ToLowerInvariant() switch
    {
        "tcp" => TransportKind.Tcp,
        "shm" => TransportKind.Shm,
        "akka" => TransportKind.Akka,
        _ => throw new UserErrorException($"--transport '{text}' is not one of tcp, shm, akka, auto"),
    };

    /// <summary>The name --transport takes and logs and metrics show.</summary>
    public static string Name(this TransportKind kind) => kind.ToString().ToLowerInvariant();
}
