using DistributedNN.Protocol;

namespace DistributedNN.Transport;

/// <summary>
/// The rule of the tcp and akka links: a shard's result comes first and its gradient right after it, on the same
/// ordered connection; an evaluation result (or one that announces no gradient of the model's length) stands alone.
/// Holds the one result that waits for its gradient, and pairs them.
/// </summary>
internal sealed class ResultPairing(int parameterCount)
{
    private WorkResult? _waiting;

    /// <summary>A result: delivered at once (true, with no gradient) or held for its gradient (false); a violation when one already waits.</summary>
    public bool OnResult(WorkResult result, out string? violation)
    {
        violation = _waiting is { } w ? $"a result for shard {w.Item} of step {w.Step} came without its gradient" : null;
        _waiting = null;
        bool follows = result.Kind == WorkKind.Shards ? result.GradientLength == parameterCount
            : result.Kind == WorkKind.SliceSum && result.GradientLength > 0 && result.GradientLength <= parameterCount; // a slice owner's sum
        if (!follows) return true;
        _waiting = result;
        return false;
    }

    /// <summary>A gradient frame: the result it belongs to, or null (a violation) when it is not the one waiting.</summary>
    public WorkResult? OnGradient(in TensorHeader header, out string? violation)
    {
        var w = _waiting;
        _waiting = null;
        if (w is not null && w.Step == header.Step && w.Version == header.Version && w.Item == header.Shard
            && (header.Kind == TensorKind.SliceSum) == (w.Kind == WorkKind.SliceSum) && (w.Kind != WorkKind.SliceSum || header.Count == w.GradientLength))
        {
            violation = null;
            return w;
        }
        violation = $"a gradient for shard {header.Shard} of step {header.Step} came without its result";
        return null;
    }
}
