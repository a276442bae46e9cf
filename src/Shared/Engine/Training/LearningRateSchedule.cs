namespace DistributedNN.Training;

public enum ScheduleKind { Constant, Step, Cosine, OneCycle }

/// <summary>
/// The learning rate of each step, from the optimizer's base rate η (the peak, for one-cycle), as torch.optim.lr_scheduler
/// defines them, stepped once per optimizer step t = 0, 1, …:
/// <list type="bullet">
/// <item>linear warm-up over the first <see cref="WarmupSteps"/> steps: η·(t + 1)/W, then the schedule over the rest;</item>
/// <item><c>constant</c>: η;</item>
/// <item><c>step</c> (StepLR by epochs): η·γ^⌊epoch / <see cref="StepEpochs"/>⌋;</item>
/// <item><c>cosine</c> (CosineAnnealingLR over the steps after the warm-up, η_min = <see cref="MinLearningRate"/>):
/// η_min + (η − η_min)·(1 + cos(π·u/U))/2;</item>
/// <item><c>one-cycle</c> (OneCycleLR, cosine annealing, 30% up, div_factor 25, final_div_factor 10⁴; the learning rate
/// only, no momentum cycling): from η/25 up to η, then down to η/25/10⁴.</item>
/// </list>
/// Computed in double and rounded once to float: a pure function of t, so every worker, owner and resumed run agrees.
/// <see cref="StepsPerEpoch"/> and <see cref="TotalSteps"/> are the run's (<see cref="Resolve"/>); 0 until known.
/// </summary>
public sealed record LearningRateSchedule(ScheduleKind Kind = ScheduleKind.Constant, int WarmupSteps = 0, int StepEpochs = 0, float Gamma = 0.1f,
    float MinLearningRate = 0f, long StepsPerEpoch = 0, long TotalSteps = 0)
{
    public const double OneCycleStart = 0.3, OneCycleDiv = 25, OneCycleFinalDiv = 1e4;

    public static string Name(ScheduleKind kind) => kind == ScheduleKind.OneCycle ? "one-cycle" : kind.ToString().ToLowerInvariant();

    public static bool TryParse(string? text, out ScheduleKind kind)
    {
        foreach (var k in Enum.GetValues<ScheduleKind>())
            if (string.Equals(text?.Trim(), Name(k), StringComparison.OrdinalIgnoreCase)) { kind = k; return true; }
        kind = default;
        return false;
    }

    /// <summary>This schedule for a run of <paramref name="epochs"/> epochs of <paramref name="stepsPerEpoch"/> steps.</summary>
    public LearningRateSchedule Resolve(long stepsPerEpoch, int epochs) => this with { StepsPerEpoch = stepsPerEpoch, TotalSteps = stepsPerEpoch * epochs };

    /// <summary>Rejects settings that cannot be a schedule, naming the option.</summary>
    public void Validate(float baseRate)
    {
        if (WarmupSteps < 0) throw new UserErrorException($"--warmup-steps must be zero or more (got {WarmupSteps})");
        if (Kind == ScheduleKind.OneCycle && WarmupSteps > 0) throw new UserErrorException("--lr-schedule one-cycle warms up by itself: drop --warmup-steps");
        if (Kind == ScheduleKind.Step && StepEpochs < 1) throw new UserErrorException($"--lr-schedule step needs --lr-step-epochs of at least 1 (got {StepEpochs})");
        if (!(Gamma > 0 && Gamma <= 1)) throw new UserErrorException($"--lr-gamma must be in (0, 1] (got {Gamma})");
        if (!(MinLearningRate >= 0 && MinLearningRate < baseRate)) throw new UserErrorException($"--lr-min must be at least 0 and below --lr (got {MinLearningRate})");
        if (StepsPerEpoch < 0 || TotalSteps < 0) throw new UserErrorException("a schedule's step counts cannot be negative");
    }

    /// <summary>The learning rate of step <paramref name="t"/> (0-based) for base rate <paramref name="rate"/>.</summary>
    public float LearningRate(float rate, long t)
    {
        double eta = rate;
        if (t < WarmupSteps) return (float)(eta * (t + 1) / WarmupSteps);
        double u = t - WarmupSteps, span = System.Math.Max(1, TotalSteps - WarmupSteps);
        return (float)(Kind switch
        {
            ScheduleKind.Step => eta * System.Math.Pow(Gamma, System.Math.Floor((double)t / System.Math.Max(1, StepEpochs * StepsPerEpoch))),
            ScheduleKind.Cosine => MinLearningRate + (eta - MinLearningRate) * (1 + System.Math.Cos(System.Math.PI * System.Math.Min(u, span) / span)) / 2,
            ScheduleKind.OneCycle => OneCycle(eta, t),
            _ => eta,
        });
    }

    // torch's OneCycleLR, anneal_strategy 'cos', three_phase False: phase ends at pct_start·T − 1 and T − 1
    private double OneCycle(double peak, long t)
    {
        double initial = peak / OneCycleDiv, final = initial / OneCycleFinalDiv;
        double upEnd = OneCycleStart * TotalSteps - 1, downEnd = TotalSteps - 1;
        static double Anneal(double start, double end, double pct) => end + (start - end) / 2 * (System.Math.Cos(System.Math.PI * pct) + 1);
        if (t <= upEnd) return Anneal(initial, peak, upEnd > 0 ? t / upEnd : 1);
        return Anneal(peak, final, System.Math.Min(1, (t - upEnd) / System.Math.Max(1e-12, downEnd - upEnd)));
    }
}
