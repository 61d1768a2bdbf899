using Microsoft.AspNetCore.SignalR;
using Microsoft.EntityFrameworkCore;
using VaeWeb.Engine.Training;
using VaeWeb.Engine.Worker;
using VaeWeb.Server.Data;
using VaeWeb.Server.Runs;

namespace VaeWeb.Server.Engine;

/// <summary>Knows the connected workers and gives each idle one the oldest queued run.</summary>
public sealed class RunDispatcher(IDbContextFactory<VaeWebDb> dbs, IHubContext<EngineHub> hub, RunFeed feed, RunRecorder recorder,
    IHostApplicationLifetime lifetime, ILogger<RunDispatcher> log)
{
    sealed record WorkerState(string Name, long? RunId, RunConfig? Config = null);
    readonly Dictionary<string, WorkerState> _workers = [];
    readonly SemaphoreSlim _gate = new(1, 1);

    public const string ServerStopped = "The server stopped while this run was training. Its metrics and images up to then are kept; resume it to continue from its last finished epoch.";

    public int WorkerCount { get { lock (_workers) return _workers.Count; } }

    public async Task WorkerReadyAsync(string connectionId, string name)
    {
        lock (_workers)
        {
            // "Ready" mid-run used to free the worker and leave its run "running" for good.
            if (_workers.TryGetValue(connectionId, out var busy) && busy.RunId is { } runId)
                throw new HubException($"This worker is training run {runId}: report Finish for it before Ready.");
            _workers[connectionId] = new(name, null);
        }
        log.LogInformation("Worker {Worker} is ready ({ConnectionId})", name, connectionId);
        await AssignAsync();
    }

    /// <summary>Hands queued runs to idle workers, oldest run first.</summary>
    public async Task AssignAsync()
    {
        await _gate.WaitAsync();
        try
        {
            while (true)
            {
                List<KeyValuePair<string, WorkerState>> free;
                lock (_workers) free = [.. _workers.Where(w => w.Value.RunId is null)];
                if (free.Count == 0) return;
                await using var db = await dbs.CreateDbContextAsync();
                var run = await db.Runs.Where(r => r.Status == RunStatus.Queued).OrderBy(r => r.Id).FirstOrDefaultAsync();
                if (run is null) return;
                // A resumed run's state is in the run folder of the worker that trained it: that one, when it is free.
                var idle = free.FirstOrDefault(w => run.ResumeStep is not null && w.Value.Name == run.Worker) is { Key: not null } trainedIt ? trainedIt : free[0];
                run.Status = RunStatus.Running;
                run.StartedAt = DateTime.UtcNow;
                run.Worker = idle.Value.Name;
                await db.SaveChangesAsync();
                lock (_workers) _workers[idle.Key] = idle.Value with { RunId = run.Id, Config = RunConfig.FromJson(run.ConfigJson) };
                log.LogInformation("Run {RunId} goes to worker {Worker}", run.Id, idle.Value.Name);
                // A resumed run with an epoch saved continues after it; one without starts again.
                var worker = hub.Clients.Client(idle.Key);
                if (run.ResumeStep is null) await worker.SendAsync(WorkerProtocol.StartRun, run.Id, run.ConfigJson);
                else await worker.SendAsync(WorkerProtocol.ResumeRun, run.Id, run.ConfigJson, run.EpochsDone);
                feed.Publish(new RunUpdate(run.Id, Status: RunStatus.Running));
            }
        }
        finally { _gate.Release(); }
    }

    /// <summary>The config of the run this worker was given, or null when <paramref name="runId"/> is not its run.</summary>
    public RunConfig? ConfigOf(string connectionId, long runId)
    {
        lock (_workers) return _workers.TryGetValue(connectionId, out var w) && w.RunId == runId ? w.Config : null;
    }

    /// <summary>Ends a run as failed on the server's word (its worker reported a diverged loss) and stops the worker.</summary>
    public async Task FailAsync(string connectionId, long runId, string reason)
    {
        RunEnded(connectionId, runId);
        await recorder.FinishAsync(runId, RunStatus.Failed, reason);
        await hub.Clients.Client(connectionId).SendAsync(WorkerProtocol.CancelRun, runId);
    }

    public void RunEnded(string connectionId, long runId)
    {
        lock (_workers)
            if (_workers.TryGetValue(connectionId, out var w) && w.RunId == runId) _workers[connectionId] = w with { RunId = null };
    }

    /// <summary>A worker that vanishes mid-run leaves its run interrupted, never "running" forever.</summary>
    public async Task WorkerGoneAsync(string connectionId)
    {
        WorkerState? gone;
        lock (_workers) _workers.Remove(connectionId, out gone);
        if (gone?.RunId is { } runId)
        {
            log.LogWarning("Worker {Worker} disconnected during run {RunId}", gone.Name, runId);
            await recorder.FinishAsync(runId, RunStatus.Interrupted, lifetime.ApplicationStopping.IsCancellationRequested
                ? ServerStopped
                : $"The worker '{gone.Name}' disconnected while training this run. Its metrics and images up to then are kept; resume it to continue from its last finished epoch.");
        }
    }

    /// <summary>Cancels a queued run at once, or asks its worker to stop a running one (it reports back when it has).</summary>
    public async Task<bool> CancelAsync(long runId)
    {
        await using var db = await dbs.CreateDbContextAsync();
        var run = await db.Runs.FindAsync(runId);
        if (run is null) return false;
        if (run.Status == RunStatus.Queued)
        {
            await recorder.FinishAsync(runId, RunStatus.Cancelled, null);
            return true;
        }
        string? connection;
        lock (_workers) connection = _workers.FirstOrDefault(w => w.Value.RunId == runId).Key;
        if (connection is null) return false;
        await hub.Clients.Client(connection).SendAsync(WorkerProtocol.CancelRun, runId);
        return true;
    }
}
