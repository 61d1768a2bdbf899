using System.Text.Json;
using System.Threading.Channels;
using Microsoft.AspNetCore.SignalR.Client;
using VaeWeb.Engine.Data;
using VaeWeb.Engine.Training;

namespace VaeWeb.Engine.Worker;

/// <summary>
/// Connects to a VaeWeb server's engine hub, trains the runs it is given one at a time, and streams every training
/// event back. The server's embedded worker and `VaeWeb.Engine worker` on a GPU machine are this same class. The
/// datasets are the caller's (the server shares its cache with exploring); they must outlive the worker.
/// </summary>
public sealed class EngineWorker(Uri server, string token, string runsDirectory, DatasetCache datasets, Action<string> log) : IAsyncDisposable
{
    readonly HubConnection _connection = new HubConnectionBuilder()
        .WithUrl(new Uri(server, WorkerProtocol.HubPath), o => o.AccessTokenProvider = () => Task.FromResult<string?>(token))
        .WithAutomaticReconnect(new ForeverRetry())
        .Build();
    // One sender, in order: training events must reach the server in the order they happened.
    readonly Channel<Func<Task>> _outbox = Channel.CreateUnbounded<Func<Task>>(new() { SingleReader = true });
    CancellationTokenSource? _currentRun;
    Task _training = Task.CompletedTask;                                    // awaited on dispose: the run uses the dataset tensors
    // Cancelled (and replaced) when the connection is lost: what was queued for the lost connection (reports, a checkpoint
    // upload, the Finish of the run the loss stopped) is never sent on the next one, to a server (or another replica) that
    // did not ask for it, and an invocation still waiting for the lost server's answer gives up instead of holding the outbox.
    CancellationTokenSource _connectionLost = new();

    public string Name { get; init; } = Environment.MachineName;

    /// <summary>Connects (retrying until the server is up), then works until <paramref name="stopping"/> fires.</summary>
    public async Task RunAsync(CancellationToken stopping)
    {
        _connection.On<long, string>(WorkerProtocol.StartRun, (runId, configJson) => { _training = OnOwnThread(() => Train(runId, configJson, null)); });
        _connection.On<long, string, int>(WorkerProtocol.ResumeRun, (runId, configJson, epoch) => { _training = OnOwnThread(() => Train(runId, configJson, epoch)); });
        _connection.On<long>(WorkerProtocol.CancelRun, runId => { if (_currentRun is { } run) CancelQuietly(run); });
        _connection.Reconnected += async _ => { if (_currentRun is null) await _connection.InvokeAsync(WorkerProtocol.Ready, Name); };
        // The server marks a run interrupted when its worker's connection drops: training on would be wasted work.
        _connection.Reconnecting += _ =>
        {
            Interlocked.Exchange(ref _connectionLost, new()).Cancel();
            if (_currentRun is { } run) { log("lost the server connection: stopping the current run (the server marks it interrupted)"); CancelQuietly(run); }
            return Task.CompletedTask;
        };

        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await _connection.StartAsync(stopping);
                break;
            }
            catch (HttpRequestException e) when (e.StatusCode is System.Net.HttpStatusCode.Unauthorized or System.Net.HttpStatusCode.Forbidden)
            {
                throw new UnauthorizedAccessException($"The server at {server} refused the worker token ({(int)e.StatusCode}). Use the token from the server's data/worker-token file or its Engine:WorkerToken setting.", e);
            }
            catch (HttpRequestException e) when (!stopping.IsCancellationRequested)
            {
                log($"server {server} not reachable ({e.Message}); retrying in {Math.Min(attempt, 10)} s");
                await Task.Delay(TimeSpan.FromSeconds(Math.Min(attempt, 10)), stopping);
            }
        }
        log($"connected to {server} as worker '{Name}'");
        // Stopping ends the run at once, not once the outbox is done (a checkpoint upload can hold it for seconds): the
        // server marks the run interrupted at the epoch it last heard of, and epochs trained after, unheard of, would
        // leave the worker's resume states past the one the server resumes from.
        using var stopRun = stopping.Register(() => { if (_currentRun is { } run) CancelQuietly(run); });
        await _connection.InvokeAsync(WorkerProtocol.Ready, Name, stopping);
        await foreach (var send in _outbox.Reader.ReadAllAsync(stopping))
        {
            try { await send(); }
            catch (OperationCanceledException) when (!stopping.IsCancellationRequested) { }   // for a connection since lost
            catch (Exception e) when (e is not OperationCanceledException) { log($"could not send to the server: {e.Message}"); }
        }
    }

    /// <summary>
    /// A run trains for minutes on one thread, waiting at times for the server: on a thread of its own, not one of the
    /// thread pool's, which the server embedding this worker needs for every request and circuit.
    /// </summary>
    static Task OnOwnThread(Action work) => Task.Factory.StartNew(work, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    /// <param name="resumeEpoch">Continue from the resume state of this epoch in the run's folder; null: a new run.</param>
    void Train(long runId, string configJson, int? resumeEpoch)
    {
        using var cancel = new CancellationTokenSource();
        _currentRun = cancel;
        string outcome = "completed";
        string? error = null;
        try
        {
            var config = RunConfig.FromJson(configJson);
            var folder = RunFolder.Of(runsDirectory, runId);
            if (resumeEpoch is null && Directory.Exists(folder))
            {
                // The server starts this run afresh, so files there are another database's run of the same id.
                log($"run {runId}: removing the stale folder {folder}");
                Directory.Delete(folder, recursive: true);
            }
            log($"run {runId}: {(resumeEpoch is null ? "training" : $"resuming after epoch {resumeEpoch}:")} {config.Model} {config.Arch} on {config.Dataset}");
            var firstLoss = true;
            var sinceStart = System.Diagnostics.Stopwatch.StartNew();
            var lastSavedRecorded = Task.CompletedTask;
            void Report(TrainingEvent e)
            {
                // Where the time before the first loss point goes (issue 9): each stage, then the first step, logged.
                if (e is StageReport stage) log($"run {runId}: {stage.Stage} at {sinceStart.Elapsed.TotalSeconds:F2} s");
                else if (e is StepReport first && firstLoss) { firstLoss = false; log($"run {runId}: first loss at step {first.Step}, {sinceStart.Elapsed.TotalSeconds:F2} s"); }
                // The folder keeps the resume states of the last two epochs, and the server resumes from the last epoch
                // it recorded: so an epoch ends (its state written, the one two back deleted) only once the server has
                // recorded the epoch before. Fast epochs and a slow server once left it three epochs behind, with no
                // state to resume from. Usually recorded long before; a lost connection cancels the run meanwhile.
                if (e is EpochReport) lastSavedRecorded.Wait(cancel.Token);
                var json = JsonSerializer.Serialize(e, RunConfig.Json);
                if (e is EpochSaved)
                {
                    var recorded = new TaskCompletionSource();
                    lastSavedRecorded = recorded.Task;
                    Send(async lost =>
                    {
                        try { await _connection.InvokeAsync(WorkerProtocol.Report, runId, json, lost); }      // returns once recorded
                        finally { recorded.TrySetResult(); }
                    });
                }
                else Send(lost => _connection.SendAsync(WorkerProtocol.Report, runId, json, lost));
                if (e is CheckpointSaved saved)
                {
                    // A copy, streamed from disk after this callback returns: the next epoch may overwrite model.pt.
                    var upload = Path.Combine(folder, $"upload-epoch{saved.Epoch}.pt");
                    File.Copy(saved.Path, upload, overwrite: true);
                    Send(async lost =>
                    {
                        try { await _connection.InvokeAsync(WorkerProtocol.UploadCheckpoint, runId, saved.Epoch, new FileInfo(upload).Length, Chunks(upload, lost), lost); }
                        finally { File.Delete(upload); }
                    });
                }
            }
            if (resumeEpoch is { } epoch) Trainer.Resume(folder, datasets, Report, epoch, cancel.Token);
            else Trainer.Run(config, datasets, folder, Report, cancel.Token);
        }
        catch (OperationCanceledException) { outcome = "cancelled"; }
        catch (Exception e)
        {
            outcome = "failed";
            error = e.Message;
            log($"run {runId} failed: {e}");
        }
        finally { _currentRun = null; }
        log($"run {runId}: {outcome}");
        Send(lost => _connection.SendAsync(WorkerProtocol.Finish, runId, outcome, error, lost));
        Send(lost => _connection.SendAsync(WorkerProtocol.Ready, Name, lost));
    }

    /// <summary>Queues a message for the current connection (dropped if that connection is lost before it goes).</summary>
    void Send(Func<CancellationToken, Task> send)
    {
        var lost = Volatile.Read(ref _connectionLost).Token;
        _outbox.Writer.TryWrite(() => lost.IsCancellationRequested ? Task.CompletedTask : send(lost));
    }

    static void CancelQuietly(CancellationTokenSource run)
    {
        try { run.Cancel(); } catch (ObjectDisposedException) { }              // the run ended meanwhile
    }

    /// <summary>The file in chunks, ending early if the connection it was for is lost (the server then refuses the short upload).</summary>
    static async IAsyncEnumerable<byte[]> Chunks(string path, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken lost)
    {
        await using var file = File.OpenRead(path);
        var buffer = new byte[WorkerProtocol.CheckpointChunkBytes];
        int read;
        while ((read = await file.ReadAsync(buffer, lost)) > 0) yield return buffer[..read];
    }

    public async ValueTask DisposeAsync()
    {
        // Stop the run and wait for its current step to end before the datasets it reads from are freed: native
        // memory used after it is freed crashes the whole process, not just the run.
        if (_currentRun is { } run) CancelQuietly(run);
        await _training;
        _outbox.Writer.TryComplete();
        await _connection.DisposeAsync();
    }

    /// <summary>A worker outlives server restarts: keep reconnecting, at most every 10 seconds.</summary>
    sealed class ForeverRetry : IRetryPolicy
    {
        public TimeSpan? NextRetryDelay(RetryContext context) => TimeSpan.FromSeconds(Math.Min(10, context.PreviousRetryCount + 1));
    }
}
