namespace DistributedNN.Model.Layers;

/// <summary>Global average pooling (torch.nn.AdaptiveAvgPool2d(1)): each channel's mean over its H×W positions, C×1×1; no parameters.</summary>
internal sealed unsafe class GlobalAvgPoolLayer : Layer
{
    public GlobalAvgPoolLayer(NetworkSpec network, int index, Layer?[] sources, int maxRows) : base(network, index, sources, maxRows) { }

    private int Area => Spec.InShape.Height * Spec.InShape.Width;

    public override void Forward(in Pass pass)
    {
        // A[c] = (1/HW) Σ_p X[c, p]   [rows × c], summed in double in position order
        float* x = Source(pass);
        int area = Area;
        for (int r = 0; r < pass.Rows; r++)
            for (int c = 0; c < Outputs; c++)
            {
                float* plane = x + (long)r * Inputs + (long)c * area;
                double sum = 0;
                for (int p = 0; p < area; p++) sum += plane[p];
                Output[(long)r * Outputs + c] = (float)(sum / area);
            }
        Activate(pass, null);
    }

    public override void Backward(in Pass pass)
    {
        if (!SourceIsLayer()) return;
        // dE/dX[c, p] = δ[c] / HW   [rows × c·h·w]
        float* dx = SourceGradient(pass);
        int area = Area;
        for (int r = 0; r < pass.Rows; r++)
            for (int c = 0; c < Outputs; c++)
            {
                float share = Delta[(long)r * Outputs + c] / area;
                new Span<float>(dx + (long)r * Inputs + (long)c * area, area).Fill(share);
            }
        Deliver(0, dx, (long)pass.Rows * Inputs);
    }
}
