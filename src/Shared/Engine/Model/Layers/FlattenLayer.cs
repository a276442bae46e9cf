namespace DistributedNN.Model.Layers;

/// <summary>A C × H × W tensor read as one vector of C·H·W (the NCHW layout already is): a copy each way.</summary>
internal sealed unsafe class FlattenLayer : Layer
{
    public FlattenLayer(NetworkSpec network, int index, Layer?[] sources, int maxRows) : base(network, index, sources, maxRows) { }

    public override void Forward(in Pass pass)
    {
        // A = X   [rows × c·h·w]
        new ReadOnlySpan<float>(Source(pass), pass.Rows * Outputs).CopyTo(new Span<float>(Output, pass.Rows * Outputs));
        Activate(pass, null);
    }

    public override void Backward(in Pass pass)
    {
        if (!SourceIsLayer()) return;
        // dE/dX = δ   [rows × c·h·w]
        float* dx = SourceGradient(pass);
        new ReadOnlySpan<float>(Delta, pass.Rows * Outputs).CopyTo(new Span<float>(dx, pass.Rows * Outputs));
        Deliver(0, dx, (long)pass.Rows * Outputs);
    }
}
