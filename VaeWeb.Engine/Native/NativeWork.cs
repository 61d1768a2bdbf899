namespace VaeWeb.Engine.Native;

/// <summary>
/// Long-running libtorch work (trainings) that the process must not exit under: when the process starts to exit, the
/// work is cancelled and the exit waits until it has left libtorch.
/// </summary>
/// <remarks>
/// Why: a .NET process exits (Main returns, Environment.Exit, SIGTERM, a test host whose runner has gone) by raising
/// ProcessExit and then calling exit(), which runs libtorch's C++ static destructors (the global at::Context, the hook
/// registries, oneDNN's caches) while nothing stops the thread-pool threads still inside libtorch. Those then read freed
/// memory: SIGSEGV in libtorch_cpu.so on a ".NET TP Worker" thread, in at::Context::float32Precision (every float32
/// matmul asks it), torch::cuda::device_count, at::accelerator::getAccelerator or dnnl_primitive_execute: whichever
/// destroyed static a thread touches first. A test host that exits, or is ended, with a run still training dies so,
/// after its results are written. ProcessExit handlers run before exit(), so stopping the work there is enough.
/// </remarks>
public static class NativeWork
{
    /// <summary>How long the exit waits for running work: a step and an evaluation, not a whole run.</summary>
    public static readonly TimeSpan ExitWait = TimeSpan.FromSeconds(30);

    static readonly CancellationTokenSource Exiting = new();
    static readonly object Gate = new();
    static int _running;
    static bool _exiting;
    static int _watching;

    /// <summary>
    /// Makes the process's exit cancel and wait for work; idempotent. <see cref="TorchRuntime.EnsureInitialized"/> calls it
    /// before any libtorch work, so that work begun while the process exits is refused rather than run unwaited.
    /// </summary>
    public static void WatchProcessExit()
    {
        if (Interlocked.Exchange(ref _watching, 1) == 0) AppDomain.CurrentDomain.ProcessExit += (_, _) => OnProcessExit();
    }

    static void OnProcessExit()
    {
        var deadline = DateTime.UtcNow + ExitWait;
        lock (Gate) _exiting = true;                                      // no work begins from here on
        Exiting.Cancel();
        lock (Gate)
        {
            while (_running > 0 && deadline - DateTime.UtcNow is { Ticks: > 0 } left) Monitor.Wait(Gate, left);
        }
    }

    /// <summary>
    /// Marks work in progress until the result is disposed; the token it gives fires when <paramref name="cancellationToken"/>
    /// does or the process starts to exit. Use the token for the work and stop at it (after the current step).
    /// Throws OperationCanceledException once the process has started to exit: the exit no longer waits for new work.
    /// </summary>
    public static Running Begin(CancellationToken cancellationToken)
    {
        WatchProcessExit();
        return new(cancellationToken);
    }

    /// <summary>One piece of work in progress (see <see cref="Begin"/>).</summary>
    public sealed class Running : IDisposable
    {
        readonly CancellationTokenSource _stop;
        int _disposed;

        internal Running(CancellationToken cancellationToken)
        {
            lock (Gate)
            {
                if (_exiting) throw new OperationCanceledException("The process is exiting.", Exiting.Token);
                _running++;
            }
            _stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, Exiting.Token);
        }

        /// <summary>Fires when the caller's token does or the process starts to exit.</summary>
        public CancellationToken Token => _stop.Token;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
            _stop.Dispose();
            lock (Gate)
            {
                _running--;
                Monitor.PulseAll(Gate);
            }
        }
    }
}
