using System.Globalization;
using System.Text;
using DistributedNN.Model;
using DistributedNN.Training;

namespace DistributedNN.Coordinator.Cli;

/// <summary>Every applied step's figures, kept for steps.csv (a few numbers per step; thread-safe).</summary>
internal sealed class StepLog
{
    private readonly Lock _gate = new();
    private readonly List<(long Step, int Epoch, double Loss, double Accuracy, int Samples)> _rows = [];
    /// <summary>Each row's per-layer gradient norms, update ratios and health fractions, one after another (no array per step).</summary>
    private readonly List<double> _layers = [];

    public void Add(TrainingState state)
    {
        var s = state.LastStep;
        // the global step decides the epoch: the same whether the caller sees the state before or after the epoch's end
        int epoch = (int)((state.Steps - 1) / state.Plan.StepsPerEpoch) + 1;
        lock (_gate)
        {
            _rows.Add((state.Steps, epoch, s.Count == 0 ? 0 : s.LossSum / s.Count, s.Count == 0 ? 0 : (double)s.Correct / s.Count, s.Count));
            foreach (double n in state.LastNorms) _layers.Add(n);
            foreach (double r in state.LastUpdateRatios) _layers.Add(r);
            foreach (double h in state.LastHealth) _layers.Add(h);
        }
    }

    public string ToCsv(NetworkSpec spec)
    {
        var inv = CultureInfo.InvariantCulture;
        int layers = spec.Layers.Count;
        var csv = new StringBuilder("step,epoch,loss,accuracy,samples");
        RunFolder.LayerColumns(csv, spec);
        csv.Append('\n');
        lock (_gate)
            for (int i = 0; i < _rows.Count; i++)
            {
                var r = _rows[i];
                csv.Append(inv, $"{r.Step},{r.Epoch},{r.Loss:R},{r.Accuracy:R},{r.Samples}");
                int at = i * 3 * layers;
                RunFolder.LayerValues(csv, spec, k => _layers[at + k], k => _layers[at + layers + k], k => _layers[at + 2 * layers + k]);
                csv.Append('\n');
            }
        return csv.ToString();
    }
}
