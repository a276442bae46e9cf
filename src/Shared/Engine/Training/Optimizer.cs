using System.Runtime.CompilerServices;
using DistributedNN.Numerics;

namespace DistributedNN.Training;

/// <summary>
/// Gradient descent on the flat parameter vector: w(t+1) = w(t) − η·dE/dw, and its refinements.
/// The gradient passed in is a SUM over the batch; <c>gradientScale</c> (1/batch) turns it into the
/// batch mean, so a learning rate means what it means in PyTorch. One pass per step, block by block, each rule one
/// source at every vector width (<see cref="Kernels.Run"/>: the same bits at every width); the
/// state (velocity, moments, step count) is public so a checkpoint can save and restore it.
/// </summary>
public sealed class Optimizer
{
    /// <param name="origin">where in the flat parameter vector this optimizer's first value sits (a slice owner's
    /// offset), for the parameters without weight decay (<see cref="OptimizerSettings.NoDecay"/>)</param>
    public Optimizer(OptimizerSettings settings, int parameterCount, int origin = 0)
    {
        settings.Validate();
        Settings = settings;
        _noDecay = Local(settings.NoDecay, origin, parameterCount);
        _averaged = Local(settings.Averaged, origin, parameterCount);
        bool needsFirst = settings.Kind is not OptimizerKind.Sgd;
        bool needsSecond = settings.Kind is OptimizerKind.Adam or OptimizerKind.AdamW;
        Velocity = needsFirst ? new float[parameterCount] : [];
        SecondMoment = needsSecond ? new float[parameterCount] : [];
    }

    private readonly (int Start, int End)[] _noDecay; // local [start, end) ranges without weight decay, in order
    private readonly (int Start, int End)[] _averaged; // local [start, end) ranges of running statistics, in order

    // the [start, end) pairs of the flat vector that fall in this optimizer's [origin, origin + count), made local
    private static (int, int)[] Local(int[]? pairs, int origin, int count)
    {
        var local = new List<(int, int)>();
        for (int i = 0; pairs is not null && i < pairs.Length; i += 2)
        {
            int start = System.Math.Max(pairs[i], origin) - origin, end = System.Math.Min(pairs[i + 1], origin + count) - origin;
            if (end > start) local.Add((start, end));
        }
        return [.. local];
    }

    public OptimizerSettings Settings { get; }
    /// <summary>The learning rate of the last update (the schedule's, at its step).</summary>
    public float LastLearningRate => Settings.RateAt(System.Math.Max(0, Steps - 1));
    /// <summary>Momentum buffer v (SGD variants) or first moment m (Adam).</summary>
    public float[] Velocity { get; }
    /// <summary>Adam's second moment v.</summary>
    public float[] SecondMoment { get; }
    /// <summary>Number of updates applied (Adam's bias correction uses it).</summary>
    public long Steps { get; set; }

    public void Step(Span<float> weights, ReadOnlySpan<float> gradientSum, float gradientScale) =>
        Step(weights, gradientSum, gradientScale, null, default);

    /// <summary>
    /// One update; with <paramref name="layers"/>, also each layer's update-to-weight ratio ‖Δθ_l‖ / ‖θ_l‖ (after the
    /// update) into <paramref name="updateRatios"/>, measured in the same pass.
    /// </summary>
    /// <param name="averageScale">what turns the running statistics' sums into the batch's values (1/batch; unclipped:
    /// <paramref name="gradientScale"/> when not given)</param>
    public void Step(Span<float> weights, ReadOnlySpan<float> gradientSum, float gradientScale, Model.NetworkSpec? layers, Span<double> updateRatios, float? averageScale = null)
    {
        if (weights.Length != gradientSum.Length) throw new ArgumentException("weights and gradient differ in length");
        Steps++;
        float average = averageScale ?? gradientScale;
        if (layers is null)
        {
            UpdateRange(weights, gradientSum, gradientScale, average, 0, weights.Length);
            return;
        }
        if (layers.ParameterCount != weights.Length || updateRatios.Length != layers.Layers.Count) throw new ArgumentException("one ratio per layer of this network");
        for (int l = 0; l < layers.Layers.Count; l++)
        {
            var (offset, length) = layers.LayerRange(l);
            var e = UpdateRange(weights, gradientSum, gradientScale, average, offset, offset + length);
            updateRatios[l] = e.Weight > 0 ? System.Math.Sqrt(e.Update / e.Weight) : 0;
        }
    }

    /// <summary>[from, to): the running statistics by their average (left out of the energy), the rest by the rule.</summary>
    private Energy UpdateRange(Span<float> weights, ReadOnlySpan<float> gradientSum, float scale, float averageScale, int from, int to)
    {
        var total = default(Energy);
        int at = from;
        foreach (var (start, stop) in _averaged)
        {
            if (stop <= at) continue;
            if (start >= to) break;
            if (start > at) total += Update(weights, gradientSum, scale, at, start - at);
            int end = System.Math.Min(stop, to);
            // torch's running statistics: r ← (1 − m)·r + m·(the batch's value)
            const float m = OptimizerSettings.AverageMomentum;
            for (int i = System.Math.Max(start, at); i < end; i++) weights[i] = (1f - m) * weights[i] + m * (averageScale * gradientSum[i]);
            at = end;
        }
        if (at < to) total += Update(weights, gradientSum, scale, at, to - at);
        return total;
    }

    /// <summary>Σ (w_new − w_old)² and Σ w_new² over a stretch of parameters.</summary>
    private record struct Energy(double Update, double Weight)
    {
        public static Energy operator +(Energy a, Energy b) => new(a.Update + b.Update, a.Weight + b.Weight);
    }

    /// <summary>Parameters updated per pass, whose ‖Δθ‖² and ‖θ‖² are summed as <see cref="Elementwise.SumOfSquares"/> sums a block.</summary>
    private const int Block = Elementwise.Block;

    /// <summary>[offset, offset + length) updated, cut where weight decay stops or starts (the parameters without it).</summary>
    private Energy Update(Span<float> weights, ReadOnlySpan<float> gradientSum, float scale, int offset, int length)
    {
        var step = ThisStep(scale);
        if (_noDecay.Length == 0 || Settings.WeightDecay == 0) return Update(weights, gradientSum, step, offset, offset + length);
        var bare = step;
        (bare.WeightDecay, bare.Shrink) = (0f, 1f);
        var total = default(Energy);
        int at = offset, end = offset + length;
        foreach (var (start, stop) in _noDecay)
        {
            if (stop <= at) continue;
            if (start >= end) break;
            if (start > at) total += Update(weights, gradientSum, step, at, start);
            int to = System.Math.Min(stop, end);
            total += Update(weights, gradientSum, bare, System.Math.Max(start, at), to);
            at = to;
        }
        if (at < end) total += Update(weights, gradientSum, step, at, end);
        return total;
    }

    private unsafe Energy Update(Span<float> weights, ReadOnlySpan<float> gradientSum, UpdateBlock step, int from, int to)
    {
        var total = default(Energy);
        fixed (float* w = weights, g = gradientSum, first = Velocity, second = SecondMoment)
            for (int start = from; start < to; start += Block)
            {
                step.N = System.Math.Min(Block, to - start);
                step.W = w + start;
                step.G = g + start;
                step.M = first + start; // unused (and null) for the rules without these buffers
                step.V = second + start;
                total += Settings.Kind switch
                {
                    OptimizerKind.Sgd => Kernels.RunLanes<Updated<Sgd>, UpdateBlock, Energy>(ref step),
                    OptimizerKind.Momentum or OptimizerKind.Nesterov => Kernels.RunLanes<Updated<Momentum>, UpdateBlock, Energy>(ref step),
                    _ => Kernels.RunLanes<Updated<Adam>, UpdateBlock, Energy>(ref step),
                };
            }
        return total;
    }

    /// <summary>This step's constants; the block is set per block.</summary>
    private UpdateBlock ThisStep(float scale)
    {
        var s = Settings;
        bool decoupled = s.Kind == OptimizerKind.AdamW;
        float rate = s.RateAt(Steps - 1);
        return new UpdateBlock
        {
            Scale = scale, LearningRate = rate, Momentum = s.Momentum, Nesterov = s.Kind == OptimizerKind.Nesterov, First = Steps == 1,
            // SGD and momentum add λw to g; Adam too (L2), AdamW instead shrinks w by (1 − ηλ) (decoupled)
            WeightDecay = decoupled ? 0f : s.WeightDecay, Shrink = decoupled ? 1f - rate * s.WeightDecay : 1f,
            Beta1 = s.Beta1, Beta2 = s.Beta2, Epsilon = s.Epsilon,
            Correction1 = 1f / (1f - MathF.Pow(s.Beta1, Steps)), Correction2 = 1f / (1f - MathF.Pow(s.Beta2, Steps)),
        };
    }

    /// <summary>One block of N weights, their gradient sums and the optimizer's buffers (M: velocity or first moment, V: second moment), and the step's constants.</summary>
    private unsafe struct UpdateBlock
    {
        public float* W, G, M, V;
        public int N;
        public float Scale, LearningRate, Momentum, WeightDecay, Shrink, Beta1, Beta2, Epsilon, Correction1, Correction2;
        public bool Nesterov, First;
    }

    /// <summary>The step's constants in registers of one width.</summary>
    private readonly struct Constants<TV> where TV : unmanaged
    {
        public TV Scale { get; private init; }
        public TV LearningRate { get; private init; }
        public TV Momentum { get; private init; }
        public TV WeightDecay { get; private init; }
        public TV Shrink { get; private init; }
        public TV Beta1 { get; private init; }
        public TV Beta2 { get; private init; }
        public TV Rest1 { get; private init; }
        public TV Rest2 { get; private init; }
        public TV Epsilon { get; private init; }
        public TV Correction1 { get; private init; }
        public TV Correction2 { get; private init; }
        public bool Nesterov { get; private init; }
        public bool First { get; private init; }

        public static Constants<TV> Of<TOps>(in UpdateBlock b) where TOps : struct, IVec<TV> => new()
        {
            Scale = TOps.Broadcast(b.Scale), LearningRate = TOps.Broadcast(b.LearningRate), Momentum = TOps.Broadcast(b.Momentum),
            WeightDecay = TOps.Broadcast(b.WeightDecay), Shrink = TOps.Broadcast(b.Shrink),
            Beta1 = TOps.Broadcast(b.Beta1), Beta2 = TOps.Broadcast(b.Beta2), Rest1 = TOps.Broadcast(1f - b.Beta1), Rest2 = TOps.Broadcast(1f - b.Beta2),
            Epsilon = TOps.Broadcast(b.Epsilon), Correction1 = TOps.Broadcast(b.Correction1), Correction2 = TOps.Broadcast(b.Correction2),
            Nesterov = b.Nesterov, First = b.First,
        };
    }

    /// <summary>A block updated by <typeparamref name="TRule"/>: groups of 16 on the lanes, the rest one by one; ‖Δθ‖² and ‖θ‖² summed in the same pass.</summary>
    private unsafe struct Updated<TRule> : ILaneKernel<UpdateBlock, Energy> where TRule : IRule
    {
        public static Energy Run<TL, TV>(ref UpdateBlock b) where TL : struct, IVec<TV> where TV : unmanaged
        {
            var lanes = Constants<TV>.Of<TL>(b);
            var single = Constants<float>.Of<Scalar>(b);
            float* w = b.W, g = b.G, m = b.M, v = b.V;
            int i = 0, n = b.N;
            TV update = TL.Zero, weight = TL.Zero;
            for (; i + 16 <= n; i += 16)
            {
                TV old = TL.Load(w + i);
                TV next = TRule.Next<TL, TV>(lanes, old, TL.Load(g + i), m + i, v + i);
                TL.Store(w + i, next);
                TV d = TL.Sub(next, old);
                update = TL.Fma(d, d, update);
                weight = TL.Fma(next, next, weight);
            }
            var energy = new Energy(Elementwise.Flush<TL, TV>(update), Elementwise.Flush<TL, TV>(weight));
            for (; i < n; i++)
            {
                float old = w[i], next = TRule.Next<Scalar, float>(single, old, g[i], m + i, v + i);
                w[i] = next;
                energy += new Energy((double)(next - old) * (next - old), (double)next * next);
            }
            return energy;
        }
    }

    /// <summary>An update rule: the new weights of one vector <paramref name="w"/> with gradient sums <paramref name="g"/>; the optimizer's buffers at m and v updated.</summary>
    private unsafe interface IRule
    {
        static abstract TV Next<TOps, TV>(in Constants<TV> c, TV w, TV g, float* m, float* v) where TOps : struct, IVec<TV> where TV : unmanaged;
    }

    // g = s·g + λw;  w ← w − η·g
    private unsafe struct Sgd : IRule
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static TV Next<TOps, TV>(in Constants<TV> c, TV w, TV g, float* m, float* v) where TOps : struct, IVec<TV> where TV : unmanaged =>
            TOps.Sub(w, TOps.Mul(c.LearningRate, TOps.Add(TOps.Mul(c.Scale, g), TOps.Mul(c.WeightDecay, w))));
    }

    // torch.optim.SGD: g = s·g + λw;  v ← μv + g (v = g on the first step);  g ← g + μv (Nesterov) or v;  w ← w − η·g
    private unsafe struct Momentum : IRule
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static TV Next<TOps, TV>(in Constants<TV> c, TV w, TV g, float* m, float* v) where TOps : struct, IVec<TV> where TV : unmanaged
        {
            TV grad = TOps.Add(TOps.Mul(c.Scale, g), TOps.Mul(c.WeightDecay, w));
            TV velocity = c.First ? grad : TOps.Add(TOps.Mul(c.Momentum, TOps.Load(m)), grad);
            TOps.Store(m, velocity);
            TV step = c.Nesterov ? TOps.Add(grad, TOps.Mul(c.Momentum, velocity)) : velocity;
            return TOps.Sub(w, TOps.Mul(c.LearningRate, step));
        }
    }

    // torch.optim.Adam (L2 weight decay added to g) / AdamW (decoupled: w ← w − ηλw):
    // m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;  w ← w − η·(m/(1−β₁ᵗ)) / (√(v/(1−β₂ᵗ)) + ε)
    private unsafe struct Adam : IRule
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static TV Next<TOps, TV>(in Constants<TV> c, TV w, TV g, float* m, float* v) where TOps : struct, IVec<TV> where TV : unmanaged
        {
            TV grad = TOps.Add(TOps.Mul(c.Scale, g), TOps.Mul(c.WeightDecay, w));
            TV first = TOps.Add(TOps.Mul(c.Beta1, TOps.Load(m)), TOps.Mul(c.Rest1, grad));
            TV second = TOps.Add(TOps.Mul(c.Beta2, TOps.Load(v)), TOps.Mul(TOps.Mul(c.Rest2, grad), grad));
            TOps.Store(m, first);
            TOps.Store(v, second);
            TV step = TOps.Div(TOps.Mul(c.LearningRate, TOps.Mul(first, c.Correction1)), TOps.Add(TOps.Sqrt(TOps.Mul(second, c.Correction2)), c.Epsilon));
            return TOps.Sub(TOps.Mul(w, c.Shrink), step);
        }
    }
}
