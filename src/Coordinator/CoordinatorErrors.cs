namespace DistributedNN.Coordinator;

/// <summary>The one-line reasons a distributed run stops, each naming what to do.</summary>
internal static class CoordinatorErrors
{
    public static UserErrorException TooFewWorkers(int ready, ClusterPolicy policy, Akka.Actor.Address self) => new(
        $"only {ready} of the {policy.MinWorkers} workers needed were ready after {policy.StartTimeout.TotalSeconds:F0} s; start workers with: dnn-worker --seed-nodes {self}{(policy.WorkerCredentials.Length > 0 ? " " + policy.WorkerCredentials : "")}");

    public static UserErrorException NoWorkersLeft(ClusterPolicy policy, long step) =>
        new($"no workers left: none came back within {policy.WorkerWait.TotalSeconds:F0} s; training stopped at step {step + 1}");

    public static UserErrorException Stalled(ClusterPolicy policy, long step) => new(
        $"step {step + 1} made no progress in {WorkScheduler.MaxStalledDeadlines} × {policy.StepTimeout.TotalSeconds:F0} s: shard results are not arriving " +
        "(lost tensor transfers? with --transport akka, a message over akka.remote's maximum-frame-size is dropped)");

    public static Training.TrainingDivergedException Diverged(Training.TrainingState state, Protocol.WorkResult result, int workers) => new(
        $"training diverged at epoch {state.Epoch + 1}, step {state.StepInEpoch + 1}: " + (result.Kind == Protocol.WorkKind.SliceSum
            ? $"the gradient sum of the slice at {result.Item} holds NaN or infinity (learning rate too high?)"
            : $"shard {result.Item} gives a NaN or infinite loss/gradient on {workers} worker(s) (learning rate too high?)"));

    public static string DataDiffers(string theirs, string ours) =>
        $"its data set differs from the coordinator's (fingerprint {theirs[..Math.Min(12, theirs.Length)]}… vs {ours[..Math.Min(12, ours.Length)]}…): give every node the same --data";
}
