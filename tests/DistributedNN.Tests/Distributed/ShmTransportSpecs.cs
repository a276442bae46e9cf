using Akka.TestKit.Xunit2;
using DistributedNN.Model;
using DistributedNN.Protocol;
using DistributedNN.Transport;
using DistributedNN.Worker;
using DistributedNN.Data;

namespace DistributedNN.Tests.Distributed;

/// <summary>A worker told to use shared memory it cannot reach (another machine) refuses the job, saying why.</summary>
[Trait(TestTiers.Category, TestTiers.Integration)]
public sealed class ShmTransportSpecs : TestKit
{
    public ShmTransportSpecs() : base(TestKitSetup.RealNode()) { }

    [Fact]
    public void A_worker_that_cannot_open_the_shared_files_refuses_the_job()
    {
        var coordinator = CreateTestProbe();
        var worker = Sys.ActorOf(WorkerActor.Props(new WorkerActor.Settings("127.0.0.1", 0, 1, TestData.Csv, coordinator.Ref)));
        coordinator.ExpectMsg<RegisterWorker>(TimeSpan.FromSeconds(30));
        var spec = NetworkSpec.FromSizes([4, 6, 2], Activation.Tanh, Activation.Softmax, LossKind.CrossEntropy);
        // names of the transport's scheme in the shm folder that were never created (on the coordinator's machine, elsewhere)
        string missing = SharedFileNames.New("weights");
        var job = new StartJob(Guid.NewGuid(), spec.ToDescription(), TestData.Request, 20, 4, 1, true, 256, TransportKind.Shm,
            SharedFiles: new SharedFiles(missing, SharedFileNames.New("gradients-1"), SharedFileNames.New("mailbox-1")));
        worker.Tell(job, coordinator.Ref);
        var refused = coordinator.ExpectMsg<WorkerRefused>(TimeSpan.FromSeconds(30));
        Assert.Equal(job.Job, refused.Job);
        Assert.StartsWith("--transport shm needs the workers on the coordinator's machine (as the same user):", refused.Reason);
        Assert.Contains(missing, refused.Reason);
    }
}
