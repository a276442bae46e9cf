using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Akka.Configuration;
using DistributedNN.Security;
using DistributedNN.Transport;

namespace DistributedNN.Bench.DataPlane;

/// <summary>
/// Throughput of the tensor data plane on 127.0.0.1, next to a plain socket, plus the Akka fallback serializer.
/// <code>
///   DataPlaneBench --mode inprocess            both ends in this process (separate threads)
///   DataPlaneBench --mode pair                 starts itself as a server child process, runs the client here
///   DataPlaneBench --mode server --port P      serve (port 0 = any; prints "listening 127.0.0.1:P")
///   DataPlaneBench --mode client --port P      measure against a server, then tell it to quit
///   options: --mb N (MB moved per measurement, default 1024)  --reps N (default 3)
///            --buffer-kb N (channel socket buffers, default 4096; 0 = OS default, as the raw socket has)
///            --tls-dir D (cluster.crt/.key for the TLS cases; made there when missing; pair/inprocess default: a temp folder)
/// </code>
/// Measures (a) a plain Socket writing a 4 MiB byte[] (and a 0.94 MB one) again and again into a byte[] on the receiver,
/// (b) TensorChannel frames of 1,048,576 and 235,146 floats into one reused float[], with the configured and with
/// OS-default socket buffers, (b-tls) the same frames through the opening handshake with mutual TLS (an SslStream over
/// the socket, AES-GCM), next to the handshake without TLS, (c) TensorChunkSerializer ToBinary/FromBinary with 65,536- and 16,384-float chunks.
/// MB = 10^6 bytes, GB = 10^9 bytes; throughput counts payload bytes; each figure is the median of the repetitions,
/// whose measurements run back to back. Results: docs/DATA_PLANE.md.
/// </summary>
internal static class Program
{
    private const int RawWriteBytes = 4 * 1024 * 1024;
    private const int LargeFrameFloats = 1 << 20;   // 4 MiB frames: a 1M-parameter model
    private const int ModelFrameFloats = 235_146;   // ~0.94 MB frames: the default Fashion-MNIST network
    private const int PreambleBytes = 32;

    private enum Test { Quit = 0, Raw = 1, Channel = 2, Handshake = 3, Tls = 4 }

    private sealed record Settings(string Mode, int Port, long MegaBytes, int Reps, int ChannelBufferBytes, string? TlsDir);

    /// <summary>The TLS certificate of both ends (the same self-signed one, as in a test cluster); null: TLS cases skipped.</summary>
    private static ClusterTls? _tls;

    private static ClusterTls LoadTls(string dir)
    {
        string cert = Path.Combine(dir, "cluster.crt"), key = Path.Combine(dir, "cluster.key");
        if (!File.Exists(cert) || !File.Exists(key)) ClusterTls.CreateSelfSigned(dir, overwrite: true); // a half pair is replaced
        return ClusterTls.Load(cert, key);
    }

    private static async Task<int> Main(string[] args)
    {
        Settings settings;
        try
        {
            settings = Parse(args);
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine(e.Message);
            Console.Error.WriteLine("usage: DataPlaneBench --mode inprocess|pair|server|client [--port P] [--mb N] [--reps N] [--buffer-kb N]");
            return 2;
        }
        long totalBytes = settings.MegaBytes * 1_000_000;
        string? tlsDir = settings.TlsDir ?? (settings.Mode is "pair" or "inprocess" ? Directory.CreateTempSubdirectory("dnn-bench-tls-").FullName : null);
        if (tlsDir is not null) _tls = LoadTls(tlsDir);
        settings = settings with { TlsDir = tlsDir };
        switch (settings.Mode)
        {
            case "server":
            {
                using var listener = Listen(settings.Port);
                Console.WriteLine($"listening {listener.LocalEndPoint}");
                Console.Out.Flush();
                await ServeAsync(listener);
                return 0;
            }
            case "client":
                await RunSuiteAsync(new IPEndPoint(IPAddress.Loopback, settings.Port), totalBytes, settings, "client → server process");
                return 0;
            case "inprocess":
            {
                using var listener = Listen(0);
                var server = Task.Factory.StartNew(() => ServeAsync(listener), TaskCreationOptions.LongRunning).Unwrap();
                await RunSuiteAsync((IPEndPoint)listener.LocalEndPoint!, totalBytes, settings, "in one process");
                await server;
                return 0;
            }
            case "pair":
                return await RunPairAsync(totalBytes, settings);
            default:
                Console.Error.WriteLine($"unknown mode {settings.Mode}");
                return 2;
        }
    }

    private static Settings Parse(string[] args)
    {
        string mode = "inprocess";
        int port = 0, reps = 3;
        long mb = 1024;
        int bufferKb = TensorChannelOptions.DefaultSocketBufferBytes / 1024;
        string? tlsDir = null;
        for (int i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--mode": mode = Value(); break;
                case "--port": port = int.Parse(Value(), CultureInfo.InvariantCulture); break;
                case "--mb": mb = long.Parse(Value(), CultureInfo.InvariantCulture); break;
                case "--reps": reps = int.Parse(Value(), CultureInfo.InvariantCulture); break;
                case "--buffer-kb": bufferKb = int.Parse(Value(), CultureInfo.InvariantCulture); break;
                case "--tls-dir": tlsDir = Value(); break;
                default: throw new ArgumentException($"unknown argument {args[i]}");
            }
        }
        if (mode == "client" && port == 0) throw new ArgumentException("--mode client needs --port");
        if (mb <= 0 || reps <= 0 || bufferKb < 0) throw new ArgumentException("--mb and --reps must be positive, --buffer-kb >= 0");
        return new Settings(mode, port, mb, reps, bufferKb * 1024, tlsDir);
    }

    private static Socket Listen(int port)
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, port));
        listener.Listen(16);
        return listener;
    }

    // ---------------------------------------------------------------- pair: this program as a child server

    private static async Task<int> RunPairAsync(long totalBytes, Settings settings)
    {
        string host = Environment.ProcessPath ?? throw new InvalidOperationException("no process path");
        var start = new ProcessStartInfo(host) { RedirectStandardOutput = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(host).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
            start.ArgumentList.Add(typeof(Program).Assembly.Location); // run as "dotnet DataPlaneBench.dll"
        foreach (var a in new[] { "--mode", "server", "--port", "0", "--tls-dir", settings.TlsDir! }) start.ArgumentList.Add(a);

        using var child = Process.Start(start) ?? throw new InvalidOperationException($"could not start {host}");
        try
        {
            string? line = await child.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
            if (line is null || !line.StartsWith("listening ", StringComparison.Ordinal))
                throw new InvalidOperationException($"the server child said \"{line}\" instead of its address");
            var endpoint = IPEndPoint.Parse(line["listening ".Length..]);
            Console.WriteLine($"server child process {child.Id} on {endpoint}");
            await RunSuiteAsync(endpoint, totalBytes, settings, $"client (pid {Environment.ProcessId}) → server child (pid {child.Id})");
            await child.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
            return child.ExitCode;
        }
        finally
        {
            if (!child.HasExited) child.Kill(); // only the child this run started
        }
    }

    // ---------------------------------------------------------------- the measuring side

    private static async Task RunSuiteAsync(IPEndPoint server, long totalBytes, Settings settings, string where)
    {
        int reps = settings.Reps, buffers = settings.ChannelBufferBytes;
        Console.WriteLine($"DataPlaneBench: {where}, 127.0.0.1, {totalBytes / 1_000_000} MB per measurement, median of {reps}; " +
                          $"channel socket buffers {(buffers == 0 ? "OS default" : $"{buffers / 1024} KiB")}; " +
                          $".NET {Environment.Version}, {Environment.ProcessorCount} cores");
        // every measurement of a repetition runs back to back, so a burst of load elsewhere hits them alike
        var cases = new (string Name, Func<long, Task<double>> Run)[]
        {
            ("raw 4 MiB", bytes => RawAsync(server, RawWriteBytes, bytes)),
            ("channel 1M", bytes => ChannelAsync(server, LargeFrameFloats, buffers, bytes)),
            ("channel 1M os-buf", bytes => ChannelAsync(server, LargeFrameFloats, 0, bytes)),
            ("raw 0.94 MB", bytes => RawAsync(server, ModelFrameFloats * 4, bytes)),
            ("channel 235k", bytes => ChannelAsync(server, ModelFrameFloats, buffers, bytes)),
            ("channel 235k os-buf", bytes => ChannelAsync(server, ModelFrameFloats, 0, bytes)),
            ("handshake 1M", bytes => ChannelAsync(server, LargeFrameFloats, buffers, bytes, Test.Handshake)),
            ("tls 1M", bytes => ChannelAsync(server, LargeFrameFloats, buffers, bytes, Test.Tls)),
            ("handshake 235k", bytes => ChannelAsync(server, ModelFrameFloats, buffers, bytes, Test.Handshake)),
            ("tls 235k", bytes => ChannelAsync(server, ModelFrameFloats, buffers, bytes, Test.Tls)),
        };
        if (_tls is null) cases = cases[..^4];
        long warm = Math.Min(totalBytes, 64_000_000);
        foreach (var c in cases) await c.Run(warm);
        var results = cases.Select(_ => new List<double>()).ToArray();
        for (int r = 0; r < reps; r++)
        {
            for (int i = 0; i < cases.Length; i++) results[i].Add(await cases[i].Run(totalBytes));
            Console.WriteLine($"  rep {r + 1}: " + string.Join(", ", cases.Select((c, i) => $"{c.Name} {results[i][^1]:F0}")) + " MB/s");
        }
        await SendQuitAsync(server);

        var m = results.Select(Median).ToArray();
        string bufferText = buffers == 0 ? "OS default buffers" : $"{buffers / 1024} KiB buffers";
        Console.WriteLine($"(a)  raw socket, 4 MiB byte[] writes, OS default buffers         : {m[0],6:F0} MB/s");
        Console.WriteLine($"(b)  TensorChannel, {LargeFrameFloats:N0}-float frames (4.19 MB), {bufferText,-18}: {m[1],6:F0} MB/s  channel/raw {m[1] / m[0]:F2}");
        Console.WriteLine($"     TensorChannel, {LargeFrameFloats:N0}-float frames (4.19 MB), OS default buffers: {m[2],6:F0} MB/s  channel/raw {m[2] / m[0]:F2}");
        Console.WriteLine($"(a') raw socket, {ModelFrameFloats * 4:N0}-byte writes, OS default buffers      : {m[3],6:F0} MB/s");
        Console.WriteLine($"(b') TensorChannel, {ModelFrameFloats:N0}-float frames (0.94 MB), {bufferText,-18}  : {m[4],6:F0} MB/s  channel/raw {m[4] / m[3]:F2} (vs 4 MiB raw {m[4] / m[0]:F2})");
        Console.WriteLine($"     TensorChannel, {ModelFrameFloats:N0}-float frames (0.94 MB), OS default buffers  : {m[5],6:F0} MB/s  channel/raw {m[5] / m[3]:F2} (vs 4 MiB raw {m[5] / m[0]:F2})");
        Console.WriteLine($"     one 235k-parameter tensor every {ModelFrameFloats * 4 / (m[4] * 1e3):F2} ms");
        if (m.Length > 6)
        {
            Console.WriteLine($"(d)  with the opening handshake, no TLS, 4.19 MB frames             : {m[6],6:F0} MB/s  vs raw {m[6] / m[0]:F2}");
            Console.WriteLine($"     with mutual TLS (SslStream, {_tls!.Certificate.PublicKey.Oid.FriendlyName}), 4.19 MB frames        : {m[7],6:F0} MB/s  TLS/plain {m[7] / m[6]:F2}  vs raw {m[7] / m[0]:F2}");
            Console.WriteLine($"     with the opening handshake, no TLS, 0.94 MB frames             : {m[8],6:F0} MB/s  vs raw {m[8] / m[3]:F2}");
            Console.WriteLine($"     with mutual TLS, 0.94 MB frames                                : {m[9],6:F0} MB/s  TLS/plain {m[9] / m[8]:F2}  vs raw {m[9] / m[3]:F2}");
        }

        SerializerBench(totalBytes, reps, TensorChunker.DefaultChunkFloats);
        SerializerBench(totalBytes, reps, TensorChunker.SmallObjectChunkFloats);
    }

    /// <summary>A plain socket writes one byte[] again and again; the server reads into a byte[] of the same size and acks at the end.</summary>
    private static async Task<double> RawAsync(IPEndPoint server, int writeBytes, long totalBytes)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(server);
        await SendPreambleAsync(socket, Test.Raw, writeBytes, totalBytes, 0);
        var block = new byte[writeBytes];
        Random.Shared.NextBytes(block);
        var ack = new byte[1];
        var clock = Stopwatch.StartNew();
        for (long sent = 0; sent < totalBytes;)
        {
            int n = (int)Math.Min(block.Length, totalBytes - sent);
            sent += await socket.SendAsync(block.AsMemory(0, n), SocketFlags.None);
        }
        if (await socket.ReceiveAsync(ack, SocketFlags.None) != 1) throw new IOException("no ack from the server");
        clock.Stop();
        return totalBytes / 1e6 / clock.Elapsed.TotalSeconds;
    }

    /// <summary>A TensorChannel sends frames of <paramref name="frameFloats"/> floats; the server acks with an empty frame at the end.</summary>
    private static async Task<double> ChannelAsync(IPEndPoint server, int frameFloats, int bufferBytes, long totalBytes, Test test = Test.Channel)
    {
        long frames = Math.Max(1, totalBytes / (frameFloats * 4L));
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        if (bufferBytes > 0)
        {
            socket.SendBufferSize = bufferBytes;    // before connecting, as TensorChannel.ConnectAsync does
            socket.ReceiveBufferSize = bufferBytes; // (here the preamble goes first, raw)
        }
        await socket.ConnectAsync(server);
        await SendPreambleAsync(socket, test, frameFloats, 0, frames, bufferBytes);
        var options = TensorChannelOptions.ForModel(frameFloats) with { SocketBufferBytes = bufferBytes, Tls = test == Test.Tls ? _tls : null };
        await using var channel = test == Test.Channel ? new TensorChannel(socket, options) : await TensorChannel.OpenAsync(socket, options, CancellationToken.None);
        var ack = new AckSink();
        var loop = channel.ReceiveLoopAsync(ack);
        var payload = new float[frameFloats];
        for (int i = 0; i < payload.Length; i++) payload[i] = i * 1e-3f;
        var job = Guid.NewGuid();

        var clock = Stopwatch.StartNew();
        for (long f = 0; f < frames; f++)
            await channel.SendAsync(new TensorHeader(job, f, f, TensorKind.Weights, TensorHeader.NoShard, frameFloats), payload);
        await ack.Arrived.WaitAsync(TimeSpan.FromMinutes(5));
        clock.Stop();
        await channel.DisposeAsync();
        await loop;
        return frames * frameFloats * 4.0 / 1e6 / clock.Elapsed.TotalSeconds;
    }

    private static void SerializerBench(long totalBytes, int reps, int chunkFloats)
    {
        var config = ConfigurationFactory.ParseString("akka.loglevel = WARNING\nakka.stdout-loglevel = WARNING\n" + TensorChunkSerializer.BindingHocon);
        using var system = ActorSystem.Create("data-plane-bench", config);
        try
        {
            var serializer = new TensorChunkSerializer((ExtendedActorSystem)system);
            var values = new float[chunkFloats];
            for (int i = 0; i < values.Length; i++) values[i] = i * 0.5f;
            var chunk = new TensorChunk(new TensorHeader(Guid.NewGuid(), 1, 1, TensorKind.ShardGradient, 0, 1 << 22), chunkFloats, values);
            long payloadBytes = values.Length * 4L;
            int iterations = (int)Math.Max(1, totalBytes / payloadBytes);
            byte[] bytes = serializer.ToBinary(chunk);

            double To() // GB/s of payload through ToBinary
            {
                var clock = Stopwatch.StartNew();
                for (int i = 0; i < iterations; i++) bytes = serializer.ToBinary(chunk);
                return iterations * payloadBytes / 1e9 / clock.Elapsed.TotalSeconds;
            }
            double From()
            {
                object last = chunk;
                var clock = Stopwatch.StartNew();
                for (int i = 0; i < iterations; i++) last = serializer.FromBinary(bytes, TensorChunkSerializer.ChunkManifest);
                double rate = iterations * payloadBytes / 1e9 / clock.Elapsed.TotalSeconds;
                if (((TensorChunk)last).Values.Length != values.Length) throw new InvalidOperationException("bad round trip");
                return rate;
            }
            To(); From(); // warm up
            var to = new List<double>();
            var from = new List<double>();
            int gen2Before = GC.CollectionCount(2);
            TimeSpan pauseBefore = GC.GetTotalPauseDuration();
            var clock = Stopwatch.StartNew();
            for (int r = 0; r < reps; r++)
            {
                to.Add(To());
                from.Add(From());
            }
            clock.Stop();
            int gen2 = GC.CollectionCount(2) - gen2Before;
            double pauseShare = (GC.GetTotalPauseDuration() - pauseBefore) / clock.Elapsed;
            Console.WriteLine($"(c) TensorChunkSerializer, {chunkFloats,6:N0}-float chunks ({bytes.Length,7:N0} bytes): " +
                              $"ToBinary {Median(to),5:F2} GB/s, FromBinary {Median(from),5:F2} GB/s " +
                              $"[runs: {string.Join(" ", to.Select(x => x.ToString("F2", CultureInfo.InvariantCulture)))} / " +
                              $"{string.Join(" ", from.Select(x => x.ToString("F2", CultureInfo.InvariantCulture)))}]");
            Console.WriteLine($"      {gen2} gen2 collections for {2L * reps * iterations:N0} calls, GC pauses {pauseShare:P0} of the time " +
                              $"(GC heap {GC.GetGCMemoryInfo().HeapSizeBytes / 1e6:F0} MB)");
        }
        finally
        {
            system.Terminate().Wait(TimeSpan.FromSeconds(10));
        }
    }

    private sealed class AckSink : ITensorSink
    {
        private readonly TaskCompletionSource _arrived = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public Task Arrived => _arrived.Task;
        public bool TryGetDestination(in TensorHeader header, out Memory<float> destination)
        {
            destination = Memory<float>.Empty;
            return header.Count == 0;
        }
        public void Received(in TensorHeader header, Memory<float> payload) => _arrived.TrySetResult();
    }

    // ---------------------------------------------------------------- the serving side

    private static async Task ServeAsync(Socket listener)
    {
        while (true)
        {
            Socket socket = await listener.AcceptAsync();
            var preamble = new byte[PreambleBytes];
            if (await ReadFullyAsync(socket, preamble) < PreambleBytes)
            {
                socket.Dispose();
                continue;
            }
            var test = (Test)BinaryPrimitives.ReadInt32LittleEndian(preamble);
            int frameFloats = BinaryPrimitives.ReadInt32LittleEndian(preamble.AsSpan(4));
            long totalBytes = BinaryPrimitives.ReadInt64LittleEndian(preamble.AsSpan(8));
            long frames = BinaryPrimitives.ReadInt64LittleEndian(preamble.AsSpan(16));
            int bufferBytes = BinaryPrimitives.ReadInt32LittleEndian(preamble.AsSpan(24));
            switch (test)
            {
                case Test.Quit:
                    socket.Dispose();
                    return;
                case Test.Raw:
                    await ServeRawAsync(socket, frameFloats, totalBytes); // frameFloats carries the write size in bytes
                    break;
                case Test.Channel:
                case Test.Handshake:
                case Test.Tls:
                    await ServeChannelAsync(socket, frameFloats, frames, bufferBytes, test);
                    break;
                default:
                    socket.Dispose();
                    throw new InvalidOperationException($"unknown test {test}");
            }
        }
    }

    private static async Task ServeRawAsync(Socket socket, int bufferBytes, long totalBytes)
    {
        using (socket)
        {
            var buffer = new byte[bufferBytes];
            for (long got = 0; got < totalBytes;)
            {
                int n = await socket.ReceiveAsync(buffer, SocketFlags.None);
                if (n == 0) throw new IOException($"the client left after {got} of {totalBytes} bytes");
                got += n;
            }
            await socket.SendAsync(new byte[] { 1 }, SocketFlags.None);
            await socket.ReceiveAsync(buffer, SocketFlags.None); // the client closes
        }
    }

    private static async Task ServeChannelAsync(Socket socket, int frameFloats, long frames, int bufferBytes, Test test)
    {
        var options = TensorChannelOptions.ForModel(frameFloats) with { SocketBufferBytes = bufferBytes, Tls = test == Test.Tls ? _tls : null };
        if (test == Test.Tls && _tls is null) throw new InvalidOperationException("a TLS case, but this server has no --tls-dir");
        await using var channel = test == Test.Channel ? new TensorChannel(socket, options) : await TensorChannel.AcceptAsync(socket, options, CancellationToken.None);
        var sink = new CountingSink(frameFloats, frames);
        Task loop = channel.ReceiveLoopAsync(sink);
        await sink.AllArrived;
        await channel.SendAsync(new TensorHeader(Guid.Empty, frames, 0, TensorKind.ShardGradient, 0, 0), ReadOnlyMemory<float>.Empty);
        await loop; // ends when the client closes
    }

    /// <summary>Reads every frame into one reusable buffer (as a worker reads weights into its parameter vector).</summary>
    private sealed class CountingSink(int frameFloats, long expected) : ITensorSink
    {
        private readonly float[] _buffer = new float[frameFloats];
        private readonly TaskCompletionSource _all = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private long _frames;
        public Task AllArrived => _all.Task;
        public bool TryGetDestination(in TensorHeader header, out Memory<float> destination)
        {
            destination = _buffer;
            return true;
        }
        public void Received(in TensorHeader header, Memory<float> payload)
        {
            if (++_frames == expected) _all.TrySetResult();
        }
    }

    // ---------------------------------------------------------------- helpers

    private static async Task SendPreambleAsync(Socket socket, Test test, int frameFloats, long totalBytes, long frames, int bufferBytes = 0)
    {
        var preamble = new byte[PreambleBytes];
        BinaryPrimitives.WriteInt32LittleEndian(preamble, (int)test);
        BinaryPrimitives.WriteInt32LittleEndian(preamble.AsSpan(4), frameFloats);
        BinaryPrimitives.WriteInt64LittleEndian(preamble.AsSpan(8), totalBytes);
        BinaryPrimitives.WriteInt64LittleEndian(preamble.AsSpan(16), frames);
        BinaryPrimitives.WriteInt32LittleEndian(preamble.AsSpan(24), bufferBytes);
        for (int sent = 0; sent < preamble.Length;)
            sent += await socket.SendAsync(preamble.AsMemory(sent), SocketFlags.None);
    }

    private static async Task SendQuitAsync(IPEndPoint server)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(server);
        await SendPreambleAsync(socket, Test.Quit, 0, 0, 0);
        socket.Shutdown(SocketShutdown.Send);
    }

    private static async Task<int> ReadFullyAsync(Socket socket, byte[] buffer)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int n = await socket.ReceiveAsync(buffer.AsMemory(total), SocketFlags.None);
            if (n == 0) break;
            total += n;
        }
        return total;
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        int mid = sorted.Count / 2;
        return sorted.Count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }
}
