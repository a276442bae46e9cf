namespace DistributedNN.Numerics;

/// <summary>
/// The one way the engine calls the matrix kernels: on the calling thread (<see cref="CallingThread"/>, a team of one) or
/// on several threads, with the same bits. Several threads on one matrix product: C is cut into column blocks (multiples of 32 columns: whole
/// register panels at every vector width) or, when it is narrow, row blocks (multiples of 4 rows), and each
/// thread computes its block with <see cref="Gemm"/>. Every element of C is still the one FMA chain over k that
/// <see cref="Gemm"/> computes for it, so the result has the same bits for any number of threads.
/// <para>
/// The calling thread takes block 0; <see cref="Threads"/> − 1 helper threads, started once, take the others.
/// Between products the helpers spin briefly and then sleep, so a training step's back-to-back products
/// do not pay a thread wake-up each, and an idle team costs nothing. Products too small to be worth
/// splitting (under <see cref="MinFlopsPerThread"/> per thread) run on the calling thread alone.
/// One product at a time: a team belongs to one caller (e.g. one <see cref="Model.Backprop"/>). A team of one thread
/// writes no state of its own — every call goes straight to <see cref="Gemm"/> — so <see cref="CallingThread"/> serves any
/// number of threads at once.
/// </para>
/// </summary>
public sealed unsafe class GemmTeam : IDisposable
{
    /// <summary>Below this many multiply-adds per thread, one thread is faster than waking another.</summary>
    public const long MinFlopsPerThread = 64 * 1024;

    private const int ColumnQuantum = 32;
    private const int RowQuantum = 4;

    /// <summary>How long an idle helper spins for the next product before it sleeps (a training step's serial part is far shorter).</summary>
    private static readonly long SpinTicks = System.Diagnostics.Stopwatch.Frequency / 1000; // 1 ms

    private readonly Thread[] _helpers;
    private readonly ManualResetEventSlim[] _go;
    private readonly int[] _sleeping;
    private long _generation;
    private int _pending;
    private volatile bool _disposed;
    private Exception? _failure;

    // the product in flight (written by the caller before the helpers are released)
    private int _m, _n, _k, _ars, _acs, _ldb, _ldc, _parts;
    private float* _a, _b, _c;
    private bool _accumulate, _byColumns;
    private int[] _bounds = [];
    private int _boundsCount;
    private bool _segmented, _transpose;
    private int* _rowOff, _runOff; // a gathered product's tables (null: a plain one)
    private bool _gatherA;
    private Action<int>? _task;

    public GemmTeam(int threads)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        Threads = threads;
        _helpers = new Thread[threads - 1];
        _go = new ManualResetEventSlim[threads - 1];
        _sleeping = new int[threads - 1];
        for (int t = 0; t < _helpers.Length; t++)
        {
            _go[t] = new ManualResetEventSlim(false, spinCount: 1);
            int part = t + 1;
            _helpers[t] = new Thread(() => HelperLoop(part)) { IsBackground = true, Name = $"gemm-team-{part}" };
            _helpers[t].Start();
        }
    }

    /// <summary>The calling thread alone: the single-thread kernels, shared by every caller (no helper threads, no state).</summary>
    public static GemmTeam CallingThread { get; } = new(1);

    /// <summary>Threads working on each product, the caller's included.</summary>
    public int Threads { get; }

    /// <summary><see cref="Gemm.MatMul"/> on the team.</summary>
    public void MatMul(int m, int n, int k, float* a, int ars, int acs, float* b, int ldb, float* c, int ldc, bool accumulate)
    {
        int parts = Parts(m, n, k);
        if (parts <= 1)
        {
            Gemm.MatMul(m, n, k, a, ars, acs, b, ldb, c, ldc, accumulate);
            return;
        }
        Set(m, n, k, a, ars, acs, b, ldb, c, ldc);
        _accumulate = accumulate;
        _segmented = false;
        _transpose = false;
        Run(parts);
    }

    /// <summary><see cref="Gemm.MatMulSegmented"/> on the team (the segments' order is kept in every block).</summary>
    public void MatMulSegmented(int m, int n, ReadOnlySpan<int> bounds, float* a, int ars, int acs, float* b, int ldb, float* c, int ldc)
    {
        int k = bounds.Length == 0 ? 0 : bounds[^1] - bounds[0];
        int parts = Parts(m, n, k);
        if (parts <= 1)
        {
            Gemm.MatMulSegmented(m, n, bounds, a, ars, acs, b, ldb, c, ldc);
            return;
        }
        if (_bounds.Length < bounds.Length) _bounds = new int[bounds.Length];
        bounds.CopyTo(_bounds);
        _boundsCount = bounds.Length;
        Set(m, n, k, a, ars, acs, b, ldb, c, ldc);
        _accumulate = false;
        _segmented = true;
        _transpose = false;
        Run(parts);
    }

    /// <summary><see cref="Gemm.MatMulGatherB"/> on the team, in blocks of columns (whole runs of B).</summary>
    public void MatMulGatherB(int m, int n, int k, float* a, int ars, float* b, int* rowOff, int* runOff, float* c, int ldc, bool accumulate)
    {
        int parts = System.Math.Min(Parts(m, n, k), n / ColumnQuantum);
        if (parts <= 1)
        {
            Gemm.MatMulGatherB(m, n, k, a, ars, b, rowOff, runOff, c, ldc, accumulate);
            return;
        }
        RunGathered(parts, byColumns: true, m, n, k, a, ars, b, 0, c, ldc, rowOff, runOff, accumulate);
    }

    /// <summary><see cref="Gemm.MatMulGatherA"/> on the team, in blocks of rows.</summary>
    public void MatMulGatherA(int m, int n, int k, float* a, int* rowOff, int* colOff, float* b, int ldb, float* c, int ldc, bool accumulate)
    {
        int parts = System.Math.Min(Parts(m, n, k), m / RowQuantum);
        if (parts <= 1)
        {
            Gemm.MatMulGatherA(m, n, k, a, rowOff, colOff, b, ldb, c, ldc, accumulate);
            return;
        }
        RunGathered(parts, byColumns: false, m, n, k, a, 0, b, ldb, c, ldc, rowOff, colOff, accumulate);
    }

    private void RunGathered(int parts, bool byColumns, int m, int n, int k, float* a, int ars, float* b, int ldb, float* c, int ldc, int* rowOff, int* runOff, bool accumulate)
    {
        Set(m, n, k, a, ars, 0, b, ldb, c, ldc);
        _rowOff = rowOff;
        _runOff = runOff;
        (_gatherA, _byColumns) = (!byColumns, byColumns);
        _accumulate = accumulate;
        _segmented = false;
        _transpose = false;
        try { Run(parts); }
        finally { _rowOff = _runOff = null; }
    }

    /// <summary><see cref="Gemm.Transpose(int, int, float*, float*)"/> on the team, in bands of 16 source rows.</summary>
    public void Transpose(int rows, int cols, float* src, float* dst)
    {
        long work = (long)rows * cols;
        int parts = (int)System.Math.Min(Threads, System.Math.Min(rows / TransposeQuantum, work / (MinFlopsPerThread / 4)));
        if (parts <= 1)
        {
            Gemm.Transpose(rows, cols, src, dst);
            return;
        }
        Set(rows, cols, 0, src, 0, 0, null, 0, dst, 0);
        _transpose = true;
        _segmented = false;
        _byColumns = false;
        Run(parts);
    }

    private const int TransposeQuantum = 16;

    /// <summary>
    /// Runs <paramref name="task"/>(0 … parts − 1) at once, part 0 on the calling thread and the others on the helpers
    /// (parts is at most <see cref="Threads"/>); returns when every part is done. For work that is not one product,
    /// e.g. the shards of a convolutional network's step, each part computing its own.
    /// </summary>
    public void Run(int parts, Action<int> task)
    {
        parts = System.Math.Clamp(parts, 1, Threads);
        if (parts == 1)
        {
            task(0);
            return;
        }
        _task = task;
        try { Run(parts); }
        finally { _task = null; }
    }

    private void Set(int m, int n, int k, float* a, int ars, int acs, float* b, int ldb, float* c, int ldc)
    {
        _m = m; _n = n; _k = k;
        _a = a; _ars = ars; _acs = acs;
        _b = b; _ldb = ldb;
        _c = c; _ldc = ldc;
    }

    private int Parts(int m, int n, int k)
    {
        if (Threads == 1 || m <= 0 || n <= 0 || k <= 0) return 1;
        long work = (long)m * n * k;
        int byWork = (int)System.Math.Min(Threads, System.Math.Max(1, work / MinFlopsPerThread));
        int byColumns = n / ColumnQuantum, byRows = m / RowQuantum;
        _byColumns = byColumns >= byWork || byColumns >= byRows;
        return System.Math.Min(byWork, System.Math.Max(1, _byColumns ? byColumns : byRows));
    }

    private void Run(int parts)
    {
        _parts = parts;
        _failure = null;
        Volatile.Write(ref _pending, _helpers.Length);
        Release();
        try
        {
            Compute(0);
        }
        finally
        {
            // the helpers' blocks are as large as ours: wait by spinning, yielding now and then on a busy machine
            var spin = new SpinWait();
            while (Volatile.Read(ref _pending) != 0) spin.SpinOnce(sleep1Threshold: -1);
        }
        if (_failure is UserErrorException user) throw user; // a user's mistake found on a helper reads as on the caller
        if (_failure is { } failure) throw new InvalidOperationException("a GEMM helper thread failed", failure);
    }

    /// <summary>Starts a new generation of work: spinning helpers see it at once, sleeping ones are woken.</summary>
    private void Release()
    {
        Interlocked.Increment(ref _generation);
        for (int t = 0; t < _helpers.Length; t++)
            if (Volatile.Read(ref _sleeping[t]) != 0) _go[t].Set();
    }

    private void HelperLoop(int part)
    {
        var go = _go[part - 1];
        long seen = 0;
        while (true)
        {
            long start = System.Diagnostics.Stopwatch.GetTimestamp();
            while (Volatile.Read(ref _generation) == seen)
            {
                if (System.Diagnostics.Stopwatch.GetTimestamp() - start < SpinTicks)
                {
                    Thread.SpinWait(20);
                    continue;
                }
                // idle for a while: sleep until released (the flag, then a re-check, so a release is never missed)
                go.Reset();
                Interlocked.Exchange(ref _sleeping[part - 1], 1);
                if (Volatile.Read(ref _generation) == seen) go.Wait();
                Interlocked.Exchange(ref _sleeping[part - 1], 0);
                start = System.Diagnostics.Stopwatch.GetTimestamp();
            }
            seen = Volatile.Read(ref _generation);
            if (_disposed) return;
            try
            {
                if (part < _parts) Compute(part);
            }
            catch (Exception e)
            {
                _failure = e;
            }
            Interlocked.Decrement(ref _pending);
        }
    }

    /// <summary>Block <paramref name="part"/> of <see cref="_parts"/>: a range of columns or rows, cut at quantum boundaries.</summary>
    private void Compute(int part)
    {
        if (_task is { } task)
        {
            task(part);
            return;
        }
        int extent = _byColumns ? _n : _m, quantum = _transpose ? TransposeQuantum : _byColumns ? ColumnQuantum : RowQuantum;
        int units = (extent + quantum - 1) / quantum;
        int from = (int)((long)units * part / _parts) * quantum;
        int to = System.Math.Min(extent, (int)((long)units * (part + 1) / _parts) * quantum);
        if (to <= from) return;
        if (_transpose)
        {
            Gemm.Transpose(_m, _n, _a, _c, from, to);
            return;
        }
        if (_rowOff != null)
        {
            if (_gatherA) Gemm.MatMulGatherA(to - from, _n, _k, _a, _rowOff + from, _runOff, _b, _ldb, _c + (long)from * _ldc, _ldc, _accumulate);
            else Gemm.MatMulGatherB(_m, to - from, _k, _a, _ars, _b, _rowOff, _runOff + from / 8, _c + from, _ldc, _accumulate);
            return;
        }
        float* a = _a, b = _b, c = _c;
        int m = _m, n = _n;
        if (_byColumns)
        {
            b += from;
            c += from;
            n = to - from;
        }
        else
        {
            a += (long)from * _ars;
            c += (long)from * _ldc;
            m = to - from;
        }
        if (_segmented) Gemm.MatMulSegmented(m, n, _bounds.AsSpan(0, _boundsCount), a, _ars, _acs, b, _ldb, c, _ldc);
        else Gemm.MatMul(m, n, _k, a, _ars, _acs, b, _ldb, c, _ldc, _accumulate);
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Interlocked.Increment(ref _generation);
        foreach (var go in _go) go.Set();
        foreach (var helper in _helpers) helper.Join();
        foreach (var go in _go) go.Dispose();
    }
}
