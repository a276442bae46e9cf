using System.Globalization;
using Akka.Actor;
using Akka.Configuration;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using DistributedNN.Numerics;
using DistributedNN.Transport;

namespace DistributedNN.Bench.KernelBench;

/// <summary>
/// BenchmarkDotNet for the kernels (docs/BENCHMARKS.md):
/// <code>
///   dotnet run --project bench/KernelBench -c Release -- [--peak GFLOPS] [--filter *Gemm*|*Serializer*] [--path 512|256|scalar]
/// </code>
/// The three GEMMs of a dense layer at the shapes of 784-256-128-10 with batch 32/128/512 — forward A·Wᵀ, weight
/// gradient δᵀ·A, input gradient δ·W — as the engine calls them, and TensorChunkSerializer both ways. After the
/// table it prints GFLOP/s per case (and the fraction of --peak, e.g. PyTorch's 2048² matmul measured in the same
/// session by ../shared/peers/matmul_peak.py) and GB/s for the serializer. <c>ConvBench</c>: the two convolutions of
/// examples/cnn.json on a 16-sample shard, forward and backward (GFLOP/s); <c>CnnStepBench</c>: that network's whole
/// gradient on a 64-sample batch in 4 shards.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        double? peak = null;
        var rest = new List<string>();
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--peak" && i + 1 < args.Length) peak = double.Parse(args[++i], CultureInfo.InvariantCulture);
            else if (args[i] == "--path" && i + 1 < args.Length) Environment.SetEnvironmentVariable("DNN_KERNEL", args[++i]);
            else rest.Add(args[i]);
        }
        Kernels.Path = KernelPath.Auto; // after DNN_KERNEL is set
        Console.WriteLine($"kernel path {Kernels.Path}, {Environment.ProcessorCount} cores, .NET {Environment.Version}");
        var config = DefaultConfig.Instance
            .AddJob(Job.ShortRun.WithToolchain(InProcessEmitToolchain.Instance).WithWarmupCount(3).WithIterationCount(5))
            .WithOptions(ConfigOptions.DisableOptimizationsValidator);
        var summaries = BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(rest.Count == 0 ? ["--filter", "*"] : rest.ToArray(), config);
        foreach (var summary in summaries) Report(summary, peak);
        return 0;
    }

    private static void Report(Summary summary, double? peak)
    {
        foreach (var report in summary.Reports)
        {
            if (report.ResultStatistics is not { } stats) continue;
            var instance = Activator.CreateInstance(report.BenchmarkCase.Descriptor.Type)!;
            foreach (var p in report.BenchmarkCase.Parameters.Items)
                report.BenchmarkCase.Descriptor.Type.GetProperty(p.Name)!.SetValue(instance, p.Value);
            string name = report.BenchmarkCase.Descriptor.WorkloadMethod.Name;
            string parameters = report.BenchmarkCase.Parameters.DisplayInfo;
            double seconds = stats.Median * 1e-9;
            switch (instance)
            {
                case GemmBench g:
                {
                    double gflops = g.Flops(name) / seconds / 1e9;
                    Console.WriteLine(string.Format(CultureInfo.InvariantCulture, "GEMM {0,-12} {1,-12} {2,8:F1} GFLOP/s{3}", name, parameters, gflops,
                        peak is { } pk ? $"  {gflops / pk:F2} of peak {pk:F1}" : ""));
                    break;
                }
                case ConvBench c:
                {
                    double gflops = c.Flops(name) / seconds / 1e9;
                    Console.WriteLine(string.Format(CultureInfo.InvariantCulture, "Conv {0,-10} {1,-22} {2,8:F1} GFLOP/s{3}", name, parameters, gflops,
                        peak is { } pk ? $"  {gflops / pk:F2} of peak {pk:F1}" : ""));
                    break;
                }
                case SerializerBench s:
                    Console.WriteLine(string.Format(CultureInfo.InvariantCulture, "Serializer {0,-10} {1,-14} {2,6:F2} GB/s", name, parameters, s.PayloadBytes / seconds / 1e9));
                    break;
            }
        }
    }
}

/// <summary>The GEMMs of 784-256-128-10, as <see cref="DistributedNN.Model.Backprop"/> calls them.</summary>
public unsafe class GemmBench
{
    private static readonly int[] Sizes = [784, 256, 128, 10];
    private float*[] _w = [], _wt = [], _act = [], _delta = [], _grad = [], _dIn = [];

    [Params(32, 128, 512)]
    public int Batch { get; set; }

    /// <summary>1: <see cref="Gemm"/> on the calling thread; more: a <see cref="GemmTeam"/> of that many threads.</summary>
    [Params(1, 2)]
    public int Threads { get; set; }

    private GemmTeam? _team;

    private void MatMul(int m, int n, int k, float* a, int ars, int acs, float* b, int ldb, float* c, int ldc)
    {
        if (_team is null) Gemm.MatMul(m, n, k, a, ars, acs, b, ldb, c, ldc, accumulate: false);
        else _team.MatMul(m, n, k, a, ars, acs, b, ldb, c, ldc, accumulate: false);
    }

    public double Flops(string method)
    {
        double sum = 0;
        for (int l = 0; l < Sizes.Length - 1; l++)
        {
            if (method == nameof(InputGradient) && l == 0) continue; // the engine skips δ·W for the first layer
            sum += 2.0 * Batch * Sizes[l] * Sizes[l + 1];
        }
        return sum;
    }

    private static float* Alloc(long n, int seed)
    {
        var p = (float*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc((nuint)(n * 4), 64);
        var rng = new Rng((ulong)seed);
        for (long i = 0; i < n; i++) p[i] = (float)(rng.NextDouble() - 0.5);
        return p;
    }

    [GlobalSetup]
    public void Setup()
    {
        int layers = Sizes.Length - 1;
        _w = new float*[layers]; _wt = new float*[layers]; _act = new float*[layers + 1]; _delta = new float*[layers]; _grad = new float*[layers]; _dIn = new float*[layers];
        _team = Threads > 1 ? new GemmTeam(Threads) : null;
        _act[0] = Alloc((long)Batch * Sizes[0], 1);
        for (int l = 0; l < layers; l++)
        {
            int inN = Sizes[l], outN = Sizes[l + 1];
            _w[l] = Alloc((long)outN * inN, 10 + l);
            _wt[l] = Alloc((long)inN * outN, 20 + l);
            _act[l + 1] = Alloc((long)Batch * outN, 30 + l);
            _delta[l] = Alloc((long)Batch * outN, 40 + l);
            _grad[l] = Alloc((long)outN * inN, 50 + l);
            _dIn[l] = Alloc((long)Batch * inN, 60 + l);
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _team?.Dispose();
        foreach (var group in new[] { _w, _wt, _act, _delta, _grad, _dIn })
            foreach (var p in group) System.Runtime.InteropServices.NativeMemory.AlignedFree(p);
    }

    /// <summary>Forward: act[l+1][B×out] = act[l][B×in] · Wᵀ[in×out] (the engine keeps Wᵀ cached).</summary>
    [Benchmark]
    public void Forward()
    {
        for (int l = 0; l < Sizes.Length - 1; l++)
            MatMul(Batch, Sizes[l + 1], Sizes[l], _act[l], Sizes[l], 1, _wt[l], Sizes[l + 1], _act[l + 1], Sizes[l + 1]);
    }

    /// <summary>Weight gradient: G[out×in] = δᵀ[out×B] · act[l][B×in] (δ read transposed through strides).</summary>
    [Benchmark]
    public void WeightGradient()
    {
        for (int l = 0; l < Sizes.Length - 1; l++)
            MatMul(Sizes[l + 1], Sizes[l], Batch, _delta[l], 1, Sizes[l + 1], _act[l], Sizes[l], _grad[l], Sizes[l]);
    }

    /// <summary>Input gradient: δin[B×in] = δ[B×out] · W[out×in] (not needed for the first layer).</summary>
    [Benchmark]
    public void InputGradient()
    {
        for (int l = 1; l < Sizes.Length - 1; l++)
            MatMul(Batch, Sizes[l], Sizes[l + 1], _delta[l], Sizes[l + 1], 1, _w[l], Sizes[l], _dIn[l], Sizes[l]);
    }
}

/// <summary>TensorChunkSerializer (the Akka.Remote fallback's raw-bytes serializer) both ways.</summary>
public class SerializerBench
{
    private ActorSystem _system = null!;
    private TensorChunkSerializer _serializer = null!;
    private TensorChunk _chunk = null!;
    private byte[] _bytes = [];

    [Params(16_384, 65_536)]
    public int Floats { get; set; }

    public double PayloadBytes => Floats * 4.0;

    [GlobalSetup]
    public void Setup()
    {
        _system = ActorSystem.Create("kernel-bench", ConfigurationFactory.ParseString("akka.loglevel = WARNING\nakka.stdout-loglevel = WARNING\n" + TensorChunkSerializer.BindingHocon));
        _serializer = new TensorChunkSerializer((ExtendedActorSystem)_system);
        var values = new float[Floats];
        for (int i = 0; i < values.Length; i++) values[i] = i * 0.5f;
        _chunk = new TensorChunk(new TensorHeader(Guid.NewGuid(), 1, 1, TensorKind.ShardGradient, 0, 1 << 22), Floats, values);
        _bytes = _serializer.ToBinary(_chunk);
    }

    [GlobalCleanup]
    public void Cleanup() => _system.Terminate().Wait(TimeSpan.FromSeconds(10));

    [Benchmark]
    public byte[] ToBinary() => _serializer.ToBinary(_chunk);

    [Benchmark]
    public object FromBinary() => _serializer.FromBinary(_bytes, TensorChunkSerializer.ChunkManifest);
}

/// <summary>One backward pass of 784-256-128-10 (forward, output delta, backward; no optimizer) as the trainer runs it.</summary>
public class StepBench
{
    private DistributedNN.Model.Backprop _backprop = null!;
    private float[] _p = [], _x = [], _g = [];
    private int[] _labels = [], _bounds = [];
    private GemmTeam? _team;

    [Params(128, 1024)]
    public int Batch { get; set; }

    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var spec = DistributedNN.Model.NetworkSpec.FromSizes([784, 256, 128, 10], DistributedNN.Model.Activation.ReLU, DistributedNN.Model.Activation.Softmax, DistributedNN.Model.LossKind.CrossEntropy);
        _backprop = new DistributedNN.Model.Backprop(spec, Batch);
        _team = Threads > 1 ? new GemmTeam(Threads) : null;
        _backprop.Team = _team;
        _p = new float[spec.ParameterCount];
        DistributedNN.Model.Initializer.Initialize(spec, _p, DistributedNN.Model.InitScheme.He, 1);
        var rng = new Rng(2);
        _x = new float[Batch * 784];
        for (int i = 0; i < _x.Length; i++) _x[i] = (float)rng.NextDouble();
        _labels = new int[Batch];
        for (int i = 0; i < Batch; i++) _labels[i] = i % 10;
        _g = new float[spec.ParameterCount];
        _bounds = [0, Batch / 4, Batch / 2, 3 * Batch / 4, Batch];
    }

    [GlobalCleanup]
    public void Cleanup() => _team?.Dispose();

    /// <summary>New weights every step (as in training): the transposed-weights cache is rebuilt each time.</summary>
    [Benchmark]
    public double Gradient() => _backprop.Gradient(_p, _x, _labels, Batch, _bounds, _g).LossSum;
}

/// <summary>The two convolutions of examples/cnn.json (1×28×28 → 32×24×24, 32×12×12 → 64×8×8, 5×5 kernels) on a 16-sample shard.</summary>
public class ConvBench
{
    private DistributedNN.Model.Conv2D _conv = null!;
    private float[] _x = [], _p = [], _z = [], _g = [], _dx = [];
    private GemmTeam? _team;
    private const int Rows = 16;

    [Params(1, 2)]
    public int Layer { get; set; }

    [Params(1, 2)]
    public int Threads { get; set; }

    private DistributedNN.Model.ConvShape Shape => Layer == 1 ? new(1, 28, 28, 32, 5, 5) : new(32, 12, 12, 64, 5, 5);

    /// <summary>Forward: 2·F·PatchSize·pixels per sample; backward: twice that for dW and (layer 2) dx.</summary>
    public double Flops(string method)
    {
        var s = Shape;
        double forward = 2.0 * s.Filters * s.PatchSize * s.OutHeight * s.OutWidth * Rows;
        return method == nameof(Forward) ? forward : forward * (Layer == 1 ? 1 : 2);
    }

    [GlobalSetup]
    public void Setup()
    {
        var s = Shape;
        _team = Threads > 1 ? new GemmTeam(Threads) : null;
        _conv = new DistributedNN.Model.Conv2D(s) { Team = _team };
        var rng = new Rng(3);
        _x = Enumerable.Range(0, Rows * s.InputSize).Select(_ => (float)rng.NextDouble()).ToArray();
        _p = Enumerable.Range(0, s.ParameterCount).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        _z = new float[Rows * s.OutputSize];
        _g = new float[s.ParameterCount];
        _dx = Layer == 1 ? [] : new float[Rows * s.InputSize]; // the first layer needs no input gradient
    }

    [GlobalCleanup]
    public void Cleanup() => _team?.Dispose();

    [Benchmark]
    public void Forward() => _conv.Forward(_x, Rows, _p, _z);

    [Benchmark]
    public void Backward() => _conv.Backward(_x, _z, Rows, _p, _g, _dx);
}

/// <summary>The whole gradient of examples/cnn.json's network on a 64-sample batch in 4 shards (as `dnn train --model-spec` runs it).</summary>
public class CnnStepBench
{
    private DistributedNN.Model.Backprop _backprop = null!;
    private float[] _p = [], _x = [], _g = [];
    private int[] _labels = [];
    private readonly int[] _bounds = [0, 16, 32, 48, 64];
    private GemmTeam? _team;

    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var spec = DistributedNN.Model.ModelSpec.Load(Path.Combine(AppContext.BaseDirectory, "cnn.json"));
        _backprop = new DistributedNN.Model.Backprop(spec, 64);
        _team = Threads > 1 ? new GemmTeam(Threads) : null;
        _backprop.Team = _team;
        _p = new float[spec.ParameterCount];
        DistributedNN.Model.Initializer.Initialize(spec, _p, DistributedNN.Model.InitScheme.Auto, 1);
        var rng = new Rng(2);
        _x = Enumerable.Range(0, 64 * spec.InputSize).Select(_ => (float)rng.NextDouble()).ToArray();
        _labels = Enumerable.Range(0, 64).Select(i => i % 10).ToArray();
        _g = new float[spec.ParameterCount];
    }

    [GlobalCleanup]
    public void Cleanup() => _team?.Dispose();

    [Benchmark]
    public double Gradient() => _backprop.Gradient(_p, _x, _labels, 64, _bounds, _g).LossSum;
}
