using DistributedNN.Numerics;

namespace DistributedNN.Model.Layers;

/// <summary>The sum of several layers of one shape (a skip connection), then a = act(z).</summary>
internal sealed unsafe class AddLayer : Layer
{
    public AddLayer(NetworkSpec network, int index, Layer?[] sources, int maxRows) : base(network, index, sources, maxRows) { }

    public override void Forward(in Pass pass)
    {
        // Z = X₀ + X₁ + …   [rows × n];  A = act(Z)
        long count = (long)pass.Rows * Outputs;
        new ReadOnlySpan<float>(Source(pass), (int)count).CopyTo(new Span<float>(Output, (int)count));
        for (int k = 1; k < SourceCount; k++) Elementwise.AddInto(Output, Source(pass, k), count);
        Activate(pass, null);
    }

    public override void Backward(in Pass pass)
    {
        // dE/dXₖ = δ for every source   [rows × n]
        long count = (long)pass.Rows * Outputs;
        for (int k = 0; k < SourceCount; k++)
        {
            if (!SourceIsLayer(k)) continue;
            float* dx = SourceGradient(pass, k);
            new ReadOnlySpan<float>(Delta, (int)count).CopyTo(new Span<float>(dx, (int)count));
            Deliver(k, dx, count);
        }
    }
}
