using Akka.Actor;
using Akka.TestKit.Xunit2;
using DistributedNN.Hosting;
using DistributedNN.Model;
using DistributedNN.Protocol;
using DistributedNN.Tests.Distributed;
using DistributedNN.Training;

namespace DistributedNN.Tests.Security;

/// <summary>
/// A real coordinator on a node of its own; this TestKit's probe registers with it over TCP claiming what no worker
/// has: each registration is ignored with one log line naming the bound, and no job is sent.
/// </summary>
[Trait(TestTiers.Category, TestTiers.Integration)]
public sealed class RegistrationLimitsSpecs : TestKit, IAsyncLifetime
{
    private readonly TestNodes _nodes = new();

    public RegistrationLimitsSpecs() : base(TestKitSetup.RealNode()) { }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _nodes.DisposeAsync();

    [Fact]
    public async Task A_registration_out_of_bounds_is_ignored_with_a_log_line_naming_the_bound()
    {
        var data = TestData.Load();
        var spec = NetworkSpec.FromSizes([4, 3, 2], Activation.Tanh, Activation.Softmax, LossKind.CrossEntropy);
        var state = new TrainingState(spec, new float[spec.ParameterCount], new TrainingSettings(1, 10, 2, 1, true, new OptimizerSettings(OptimizerKind.Sgd, 0.1f)), data.Train.Count);
        var (seed, _) = await _nodes.StartCoordinator(state, minWorkers: 1, TimeSpan.FromSeconds(60));
        var log = new LogWatch(_nodes.Coordinator!);
        var coordinator = await Sys.ActorSelection($"{seed}/user/{DnnAkka.CoordinatorName}").ResolveOne(TimeSpan.FromSeconds(30));
        var probe = CreateTestProbe();
        (RegisterWorker Registration, string Bound)[] cases =
        [
            (new RegisterWorker(probe.Ref, "127.0.0.1", 4055, 100_000), $"it claims 100000 cores (1..{ProtocolLimits.MaxCores})"),
            (new RegisterWorker(probe.Ref, "127.0.0.1", 4055, 0), $"it claims 0 cores (1..{ProtocolLimits.MaxCores})"),
            (new RegisterWorker(probe.Ref, new string('h', 300), 4055, 1), "its data-plane host is not a host name of 1..253 characters"),
            (new RegisterWorker(probe.Ref, "127.0.0.1\nforged log line", 4055, 1), "its data-plane host is not a host name"),
            (new RegisterWorker(probe.Ref, "127.0.0.1", 70_000, 1), "its data-plane port 70000 is not a port"),
            (new RegisterWorker(probe.Ref, "127.0.0.1", 4055, 1, new byte[5000]), "its access token has 5000 bytes, not 32"),
        ];
        foreach (var (registration, bound) in cases)
        {
            coordinator.Tell(registration, probe.Ref);
            var lines = await log.WaitFor(bound, 1);
            Assert.Contains("Ignoring a registration", lines.Single());
        }
        probe.ExpectNoMsg(TimeSpan.FromSeconds(1)); // no StartJob for any of them
    }
}
