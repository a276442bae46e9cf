namespace DistributedNN.Coordinator;

/// <summary>Why a result was not taken, in classes the coordinator acts on differently.</summary>
public enum RejectionKind
{
    /// <summary>For another job, step or weight version: late or foreign, not a sign of a bad worker.</summary>
    Stale,
    /// <summary>For an item that now belongs to another worker (handed out again after a deadline), or was never this worker's.</summary>
    Overtaken,
    /// <summary>NaN or ±∞ in the loss or the gradient: poisoned, or the model diverged.</summary>
    NonFinite,
    /// <summary>Wrong length or count, an unknown or repeated item: a broken or hostile worker.</summary>
    Malformed,
}

public sealed record Rejection(RejectionKind Kind, string Reason)
{
    public static Rejection Stale(string reason) => new(RejectionKind.Stale, reason);
    public static Rejection Malformed(string reason) => new(RejectionKind.Malformed, reason);
    public override string ToString() => Reason;
}
