namespace DistributedNN.Model.Layers;

/// <summary>Max or average pooling over NCHW rows (<see cref="Pool2D"/>); no parameters.</summary>
internal sealed unsafe class PoolLayer : Layer
{
    private readonly Pool2D _pool;

    public PoolLayer(NetworkSpec network, int index, Layer?[] sources, int maxRows) : base(network, index, sources, maxRows) =>
        _pool = new Pool2D(Spec.Pool, maxRows);

    public override void Forward(in Pass pass)
    {
        // A[c, oy, ox] = max or mean of X[c] over the window at (oy·S, ox·S)   [rows × c·oh·ow]
        _pool.Forward(new ReadOnlySpan<float>(Source(pass), pass.Rows * Inputs), pass.Rows, new Span<float>(Output, pass.Rows * Outputs));
        Activate(pass, null);
    }

    public override void Backward(in Pass pass)
    {
        if (!SourceIsLayer()) return;
        // dE/dX: each output's δ to its window's first maximum (max) or spread evenly over the window (average)   [rows × c·h·w]
        float* dx = SourceGradient(pass);
        _pool.Backward(new ReadOnlySpan<float>(Delta, pass.Rows * Outputs), pass.Rows, new Span<float>(dx, pass.Rows * Inputs));
        Deliver(0, dx, (long)pass.Rows * Inputs);
    }
}
