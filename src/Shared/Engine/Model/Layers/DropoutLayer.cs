using DistributedNN.Numerics;

namespace DistributedNN.Model.Layers;

/// <summary>
/// Dropout while training: each unit zeroed with probability p, the others scaled by 1/(1 − p) (so inference, which
/// passes everything, sees the same expected value). A shard's masks come from its own stream (<see cref="DropoutKey"/>),
/// drawn in row order, so a shard drops the same units whether it is computed alone or with others.
/// </summary>
internal sealed unsafe class DropoutLayer : Layer
{
    private readonly float[] _masks; // held: m [MaxRows × n] of the last training pass
    private readonly float* _mask;

    public DropoutLayer(NetworkSpec network, int index, Layer?[] sources, int maxRows) : base(network, index, sources, maxRows) =>
        _masks = Pinned.Floats((long)maxRows * Outputs, out _mask);

    private bool Drops(in Pass pass) => !pass.Dropout.IsEmpty && Spec.Rate > 0;

    public override void Forward(in Pass pass)
    {
        long count = (long)pass.Rows * Outputs;
        if (Drops(pass))
        {
            // m = 0 with probability p, else 1/(1 − p), each shard's from its stream;  A = X ⊙ m   [rows × n]
            float keep = 1f / (1f - Spec.Rate);
            for (int s = 0; s + 1 < pass.Shards.Length; s++)
            {
                var stream = pass.Dropout[s];
                for (long i = (long)pass.Shards[s] * Outputs; i < (long)pass.Shards[s + 1] * Outputs; i++)
                    _mask[i] = stream.NextDouble() < Spec.Rate ? 0f : keep;
            }
            Elementwise.Multiply(Output, Source(pass), _mask, count);
        }
        else new ReadOnlySpan<float>(Source(pass), (int)count).CopyTo(new Span<float>(Output, (int)count));
        Activate(pass, null);
    }

    public override void Backward(in Pass pass)
    {
        if (!SourceIsLayer()) return;
        long count = (long)pass.Rows * Outputs;
        float* dx = SourceGradient(pass);
        // dE/dX = δ ⊙ m   [rows × n]
        if (Spec.Rate > 0) Elementwise.Multiply(dx, Delta, _mask, count);
        else new ReadOnlySpan<float>(Delta, (int)count).CopyTo(new Span<float>(dx, (int)count));
        Deliver(0, dx, count);
    }
}
