using DistributedNN.Data;
using DistributedNN.Model;
using DistributedNN.Protocol;
using DistributedNN.Transport;

namespace DistributedNN.Tests.Coordination;

/// <summary>The protocol's bounds on the records themselves (the tests over the wire are in Security/).</summary>
public sealed class ProtocolLimitsTests
{
    private static StartJob Job(SharedFiles? files = null, DataRequest? data = null) => new(Guid.Empty,
        NetworkSpec.FromSizes([4, 3, 2], Activation.ReLU, Activation.Softmax, LossKind.CrossEntropy).ToDescription(),
        data ?? new DataRequest(null, 0.2, "last", null), 10, 2, 1, true, 256, TransportKind.Shm, SharedFiles: files);

    [Fact]
    public void An_honest_job_and_registration_are_within_the_bounds()
    {
        Assert.Null(ProtocolLimits.Refusal(Job()));
        string shm = SharedTensorFile.Folder;
        Assert.Null(ProtocolLimits.Refusal(Job(new SharedFiles(Path.Combine(shm, "dnn-w"), Path.Combine(shm, "dnn-g"), Path.Combine(shm, "dnn-m")))));
        Assert.Null(ProtocolLimits.Refusal(new RegisterWorker(Akka.Actor.ActorRefs.Nobody, "worker-1.example", 4055, 8, new byte[32])));
        Assert.Null(ProtocolLimits.Refusal(new WorkerReady(Guid.Empty, Akka.Actor.ActorRefs.Nobody, new string('a', 64), 60000, 10000)));
    }

    [Theory]
    [InlineData("/etc/passwd")]
    [InlineData("relative")]
    [InlineData("/dev/shm/../etc/passwd")]
    public void A_shared_file_must_be_directly_in_the_shared_folder(string path)
    {
        string shm = Path.Combine(SharedTensorFile.Folder, "dnn-w");
        Assert.Contains("is not directly in", ProtocolLimits.Refusal(Job(new SharedFiles(shm, path, shm))));
    }

    [Fact]
    public void Data_options_and_readiness_are_bounded()
    {
        Assert.Contains("test fraction 1 is outside", ProtocolLimits.Refusal(Job(data: new DataRequest(null, 1, "last", null))));
        Assert.Contains("validation fraction 1 is outside [0, 1)", ProtocolLimits.Refusal(Job(data: new DataRequest(null, 0.2, "last", null, ValidationFraction: 1))));
        Assert.Null(ProtocolLimits.Refusal(Job(data: new DataRequest(null, 0.2, "last", null, ValidationFraction: 0.1))));
        Assert.Contains("train limit 0 is not positive", ProtocolLimits.Refusal(Job(data: new DataRequest(null, 0.2, "last", 0))));
        Assert.Contains("the label column has 100 characters", ProtocolLimits.Refusal(Job(data: new DataRequest(null, 0.2, new string('x', 100), null))));
        Assert.Contains("the data fingerprint has 1000 characters", ProtocolLimits.Refusal(new WorkerReady(Guid.Empty, Akka.Actor.ActorRefs.Nobody, new string('a', 1000), 1, 1)));
        Assert.Contains("negative sample counts", ProtocolLimits.Refusal(new WorkerReady(Guid.Empty, Akka.Actor.ActorRefs.Nobody, "ab", -1, 1)));
    }

    [Fact]
    public void A_reason_from_the_wire_becomes_one_bounded_line()
    {
        Assert.Equal("a b c", ProtocolLimits.Clip("a\nb\u0007c"));
        Assert.Equal(ProtocolLimits.MaxReasonChars + 1, ProtocolLimits.Clip(new string('x', 5000)).Length);
        Assert.Equal("", ProtocolLimits.Clip(null));
    }
}
