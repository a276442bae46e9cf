namespace DistributedNN.Model.Layers;

/// <summary>Several layers joined along the channels (NCHW: each row the sources' rows one after another), then a = act(z).</summary>
internal sealed unsafe class ConcatLayer : Layer
{
    private readonly int[] _widths; // per source, its values per row

    public ConcatLayer(NetworkSpec network, int index, Layer?[] sources, int maxRows) : base(network, index, sources, maxRows) =>
        _widths = NetworkSpec.Sources(Spec, index).Select(f => f < 0 ? network.InputSize : network.Layers[f].Outputs).ToArray();

    public override void Forward(in Pass pass)
    {
        // Z[r] = [X₀[r], X₁[r], …]   [rows × Σ widths];  A = act(Z)
        for (int k = 0, offset = 0; k < _widths.Length; offset += _widths[k], k++)
        {
            float* x = Source(pass, k);
            int w = _widths[k];
            for (int r = 0; r < pass.Rows; r++)
                new ReadOnlySpan<float>(x + (long)r * w, w).CopyTo(new Span<float>(Output + (long)r * Outputs + offset, w));
        }
        Activate(pass, null);
    }

    public override void Backward(in Pass pass)
    {
        // dE/dXₖ[r] = δ[r] over Xₖ's columns   [rows × widthₖ]
        for (int k = 0, offset = 0; k < _widths.Length; offset += _widths[k], k++)
        {
            if (!SourceIsLayer(k)) continue;
            float* dx = SourceGradient(pass, k);
            int w = _widths[k];
            for (int r = 0; r < pass.Rows; r++)
                new ReadOnlySpan<float>(Delta + (long)r * Outputs + offset, w).CopyTo(new Span<float>(dx + (long)r * w, w));
            Deliver(k, dx, (long)pass.Rows * w);
        }
    }
}
