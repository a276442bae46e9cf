using DistributedNN.Data;
using DistributedNN.Model;
using DistributedNN.Transport;

namespace DistributedNN.Protocol;

/// <summary>
/// The bounds of every control-plane record, in one place. Two layers: <see cref="WireRecordCodec"/> refuses a payload
/// whose lengths exceed the bytes it has or the wire caps below before it allocates anything (so a payload never makes
/// its receiver allocate more than a small multiple of its own size); the receivers then check each record's fields
/// against the protocol's bounds (<see cref="Refusal(StartJob)"/> and its siblings) before acting on them, so nothing
/// is sized by an unchecked value. Each bound is far above what an honest node sends, with the reason beside it.
/// </summary>
public static class ProtocolLimits
{
    // ---- the wire codec's caps (any field of that kind) ----

    /// <summary>A string's UTF-8 bytes: the largest is a graph network's model spec JSON (<see cref="MaxGraphChars"/>).</summary>
    public const int MaxWireStringBytes = 4 * MaxGraphChars;
    /// <summary>A byte array: access tokens and secrets are 32 bytes; room for a certificate or a signature.</summary>
    public const int MaxWireBytes = 64 * 1024;
    /// <summary>An actor reference's serialized path (akka.ssl.tcp://dnn@host:port/user/name#uid): host names are at most 253.</summary>
    public const int MaxActorPathBytes = 1024;
    /// <summary>
    /// An int or string array: a network's layer sizes and activations. Above <see cref="MaxLayers"/> so that a worker
    /// can still read a job with too many layers and refuse it by name.
    /// </summary>
    public const int MaxWireArrayLength = 64 * 1024;

    // ---- StartJob ----

    /// <summary>Layers of a network: the deepest example has a few dozen; a worker builds an object per layer.</summary>
    public const int MaxLayers = 1024;
    /// <summary>Units of a layer (or values of a convolution's output): 16 Mi, far above any layer this trainer runs.</summary>
    public const int MaxLayerWidth = 16 * 1024 * 1024;
    /// <summary>A graph network's model spec JSON: a spec of <see cref="MaxLayers"/> layers is well under this.</summary>
    public const int MaxGraphChars = 256 * 1024;
    /// <summary>Parameters: 256 Mi floats (1 GiB) per copy; a worker holds the weights and a gradient per lane.</summary>
    public const int MaxParameters = 256 * 1024 * 1024;
    /// <summary>Floats of activations a worker allocates for the rows its lanes compute at once (rows × the layers' widths): 1 GiB.</summary>
    public const long MaxActivationFloats = 256L * 1024 * 1024;
    /// <summary>A step's global batch: a worker sizes its shard buffers by it.</summary>
    public const int MaxBatchSize = 1024 * 1024;
    /// <summary>Shards of a step: each is an item of an order (<see cref="WorkCodec.MaxItems"/> per order) and a bound per step.</summary>
    public const int MaxShards = 4096;
    /// <summary>Test samples per evaluation chunk (256 today).</summary>
    public const int MaxEvaluationChunk = 64 * 1024;
    /// <summary>A data path (Linux PATH_MAX), or two of them as TRAIN.csv,TEST.csv.</summary>
    public const int MaxDataPathChars = 2 * 4096 + 1;
    /// <summary>Names: an activation, a loss, a label column ('first', 'last' or a number).</summary>
    public const int MaxNameChars = 64;
    /// <summary>A shm file's path (a file name is at most 255 bytes on Linux).</summary>
    public const int MaxSharedFileChars = 512;

    // ---- the worker's messages ----

    /// <summary>A worker's cores: its capacity, capped at the items of one order.</summary>
    public const int MaxCores = WorkCodec.MaxItems;
    /// <summary>A host name (DNS: 253 characters) or an IP address.</summary>
    public const int MaxHostChars = 253;
    /// <summary>A data fingerprint: a SHA-256 in hex is 64 characters.</summary>
    public const int MaxFingerprintChars = 128;
    /// <summary>A reason or an outcome (refusals, rejections, a job's end): one line of log.</summary>
    public const int MaxReasonChars = 1024;

    /// <summary>Why a worker must not act on <paramref name="job"/> (checked before anything is built from it), or null.</summary>
    public static string? Refusal(StartJob job)
    {
        var n = job.Network;
        return job.BatchSize is < 1 or > MaxBatchSize ? $"batch size {job.BatchSize} is outside 1..{MaxBatchSize}"
            : job.Shards < 1 || job.Shards > Math.Min(MaxShards, job.BatchSize) ? $"shard count {job.Shards} is outside 1..{Math.Min(MaxShards, job.BatchSize)} (at most {MaxShards} and the batch size)"
            : job.EvaluationChunk is < 1 or > MaxEvaluationChunk ? $"evaluation chunk {job.EvaluationChunk} is outside 1..{MaxEvaluationChunk}"
            : !(job.LabelSmoothing >= 0 && job.LabelSmoothing < 1) ? $"label smoothing {job.LabelSmoothing} is outside [0, 1)"
            : job.AugmentPad is < 0 or > Training.Augmentation.MaxPad ? $"random crop padding {job.AugmentPad} is outside 0..{Training.Augmentation.MaxPad}"
            : n.Sizes.Length > MaxLayers + 1 || n.Activations.Length > MaxLayers ? $"the network has more than {MaxLayers} layers"
            : Array.FindIndex(n.Sizes, s => s is < 1 or > MaxLayerWidth) is int bad and >= 0 ? $"layer size {n.Sizes[bad]} is outside 1..{MaxLayerWidth}"
            : TooLong("the loss name", n.Loss, MaxNameChars) ?? n.Activations.Select(a => TooLong("an activation name", a, MaxNameChars)).FirstOrDefault(r => r is not null)
            ?? TooLong("the model spec", n.Graph, MaxGraphChars)
            ?? (n.Graph is null && StackParameters(n.Sizes) > MaxParameters ? $"the network has more than {MaxParameters} parameters" : null)
            ?? Refusal(job.Data) ?? Refusal(job.SharedFiles);
    }

    // a plain stack's W and b per layer, in 64 bits: the sizes are each within bounds, their products need not be
    private static long StackParameters(int[] sizes)
    {
        long total = 0;
        for (int l = 1; l < sizes.Length; l++) total += (long)sizes[l - 1] * sizes[l] + sizes[l];
        return total;
    }

    /// <summary>
    /// Why a worker must not compute <paramref name="spec"/> with <paramref name="job"/>'s batch, or null: its parameters,
    /// and the activations of the rows it computes at once, counted in 64 bits from the layers' shapes (the spec's own
    /// int counts could have wrapped around for a crafted description).
    /// </summary>
    public static string? Refusal(NetworkSpec spec, StartJob job)
    {
        if (spec.Layers.Count > MaxLayers) return $"the network has {spec.Layers.Count} layers, more than {MaxLayers}";
        // each of a worker's lanes (at most one per shard) holds the rows of its largest shard: fewer than batch + shards in all
        try { return Size(spec, (long)job.BatchSize + job.Shards); }
        catch (OverflowException) { return "the network's sizes overflow 64 bits"; }
    }

    private static string? Size(NetworkSpec spec, long rows)
    {
        checked // a crafted shape must not wrap around
        {
            long parameters = 0, perRow = Volume(spec.InputShape), widest = 0;
            foreach (var layer in spec.Layers)
            {
                long outputs = Volume(layer.OutShape), inputs = Volume(layer.InShape);
                if (Math.Max(outputs, inputs) > MaxLayerWidth) return $"a layer of {Math.Max(outputs, inputs)} values is wider than {MaxLayerWidth}";
                parameters += layer.Kind switch
                {
                    LayerKind.Dense => inputs * outputs + outputs,
                    LayerKind.Conv => (long)layer.OutShape.Channels * layer.InShape.Channels * layer.Kernel * layer.Kernel + layer.OutShape.Channels,
                    _ => 0,
                };
                // a layer's output, its δ and z; a convolution's im2col holds channels × k² values per output position
                perRow += 3 * outputs + (layer.Kind == LayerKind.Conv ? (long)layer.InShape.Channels * layer.Kernel * layer.Kernel * layer.OutShape.Height * layer.OutShape.Width : 0);
                widest = Math.Max(widest, Math.Max(inputs, outputs));
                if (parameters > MaxParameters) return $"the network has more than {MaxParameters} parameters";
            }
            perRow += widest; // the network's scratch row
            return rows * perRow > MaxActivationFloats ? $"{rows} rows of {perRow} activations are more than {MaxActivationFloats} floats" : null;
        }
    }

    private static long Volume(TensorShape shape) => checked((long)shape.Channels * shape.Height * shape.Width);

    private static string? Refusal(DataRequest data) =>
        TooLong("the data path", data.Path, MaxDataPathChars) ?? TooLong("the label column", data.LabelColumn, MaxNameChars)
        ?? TooLong("the image size", data.ImageSize, MaxNameChars)
        ?? (data.TestFraction is > 0 and < 1 ? null : $"test fraction {data.TestFraction} is outside (0, 1)")
        ?? (data.ValidationFraction is >= 0 and < 1 ? null : $"validation fraction {data.ValidationFraction} is outside [0, 1)")
        ?? (data.TrainLimit is < 1 ? $"train limit {data.TrainLimit} is not positive" : null);

    private static string? Refusal(SharedFiles? files) => files is null ? null
        : new[] { files.Weights, files.Gradients, files.Mailbox }.Select(f => TooLong("a shared-memory file name", f, MaxSharedFileChars))
            .FirstOrDefault(r => r is not null)
          ?? (new[] { files.Weights, files.Gradients, files.Mailbox }.All(IsSharedFile) ? null
              : $"a shared-memory file is not directly in {SharedTensorFile.Folder}");

    // the shm link maps files the coordinator made in the shared folder; never a path elsewhere
    private static bool IsSharedFile(string path) =>
        Path.IsPathFullyQualified(path) && Path.GetDirectoryName(path) == SharedTensorFile.Folder.TrimEnd('/')
        && Path.GetFileName(path) is { Length: > 0 } name && name != ".." && name != "." && !path.Contains('\0');

    /// <summary>Why the coordinator must not register a worker from <paramref name="r"/>, or null.</summary>
    public static string? Refusal(RegisterWorker r) =>
        r.Cores is < 1 or > MaxCores ? $"it claims {r.Cores} cores (1..{MaxCores})"
        : r.DataPlanePort is < 1 or > 65535 ? $"its data-plane port {r.DataPlanePort} is not a port"
        : string.IsNullOrEmpty(r.DataPlaneHost) || r.DataPlaneHost.Length > MaxHostChars || r.DataPlaneHost.Any(c => char.IsWhiteSpace(c) || char.IsControl(c))
            ? $"its data-plane host is not a host name of 1..{MaxHostChars} characters"
        : r.AccessToken is { Length: not TensorHandshake.TokenSize } ? $"its access token has {r.AccessToken.Length} bytes, not {TensorHandshake.TokenSize}"
        : null;

    /// <summary>Why the coordinator must not count <paramref name="r"/> as a worker's readiness, or null.</summary>
    public static string? Refusal(WorkerReady r) =>
        TooLong("the data fingerprint", r.DataFingerprint, MaxFingerprintChars)
        ?? (r.TrainCount < 0 || r.TestCount < 0 ? $"negative sample counts ({r.TrainCount}, {r.TestCount})" : null);

    /// <summary>A reason from the wire as one log line of at most <see cref="MaxReasonChars"/> characters.</summary>
    public static string Clip(string? reason)
    {
        string line = (reason ?? "").ReplaceLineEndings(" ");
        line = new string(line.Select(c => char.IsControl(c) ? ' ' : c).ToArray());
        return line.Length <= MaxReasonChars ? line : line[..MaxReasonChars] + "…";
    }

    private static string? TooLong(string what, string? text, int max) =>
        text is { Length: var length } && length > max ? $"{what} has {length} characters, more than {max}" : null;
}
