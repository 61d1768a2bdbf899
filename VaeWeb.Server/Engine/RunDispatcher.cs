using Microsoft.AspNetCore.SignalR;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using VaeWeb.Engine.Training;
using VaeWeb.Engine.Worker;
using VaeWeb.Server.Data;
using VaeWeb.Server.Runs;

namespace VaeWeb.Server.Engine;

/// <summary>
/// Knows the workers connected to this server and gives each idle one the oldest queued run. Several replicas may share
/// the database (PostgreSQL): a run is claimed with a conditional update (status still queued), so exactly one replica
/// hands it out; each replica with idle workers also looks for queued runs every <see cref="PollInterval"/>, and at
/// once when another replica says one was queued (<see cref="RunFeedRelay"/>).
/// </summary>
public sealed class RunDispatcher(IDbContextFactory<VaeWebDb> dbs, IHubContext<EngineHub> hub, RunFeed feed, RunRecorder recorder,
    IHostApplicationLifetime lifetime, IOptions<EngineOptions> options, ILogger<RunDispatcher> log) : BackgroundService
{
    public static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(1);
    /// <param name="ReadyDue">Its run ended (Finish), and a worker says Ready after Finish: when a run was handed to it in
    /// between, that Ready is not a "Ready mid-run".</param>
    sealed record WorkerState(string Name, long? RunId, RunConfig? Config = null, bool ReadyDue = false)
    {
        public bool Free => RunId is null;
    }
    readonly Dictionary<string, WorkerState> _workers = [];
    readonly SemaphoreSlim _gate = new(1, 1);

    public const string ServerStopped = "The server stopped while this run was training. Its metrics and images up to then are kept; resume it to continue from its last finished epoch.";

    public int WorkerCount { get { lock (_workers) return _workers.Count; } }

    /// <summary>The names of the workers connected to this server.</summary>
    public IReadOnlyList<string> WorkerNames { get { lock (_workers) return [.. _workers.Values.Select(w => w.Name)]; } }

    /// <summary>Raised with a worker's name when it says Ready, before it is given a run.</summary>
    public event Action<string>? WorkerConnected;

    /// <summary>The runs this server's workers are training now.</summary>
    public IReadOnlyList<long> RunsTraining { get { lock (_workers) return [.. _workers.Values.Where(w => w.RunId is not null).Select(w => w.RunId!.Value)]; } }

    public async Task WorkerReadyAsync(string connectionId, string name)
    {
        // In the gate: no run is handed to the worker before it has its own one back (ReclaimAsync).
        await _gate.WaitAsync();
        try
        {
            lock (_workers)
            {
                if (_workers.TryGetValue(connectionId, out var busy) && busy.RunId is { } runId)
                {
                    // The Ready that follows its Finish, after it was given its next run: it has that run.
                    if (busy.ReadyDue)
                    {
                        _workers[connectionId] = busy with { ReadyDue = false };
                        return;
                    }
                    // "Ready" mid-run used to free the worker and leave its run "running" for good.
                    throw new HubException($"This worker is training run {runId}: report Finish for it before Ready.");
                }
                _workers[connectionId] = new(name, null);
            }
            log.LogInformation("Worker {Worker} is ready ({ConnectionId})", name, connectionId);
            WorkerConnected?.Invoke(name);
            if (options.Value.UsesPostgres && await ReclaimAsync(connectionId, name)) return;
        }
        finally { _gate.Release(); }
        await AssignAsync();
    }

    /// <summary>
    /// A worker that says Ready trains nothing, so a run the database says it trains lost its replica (killed, or
    /// stopped: see <see cref="WorkerGoneAsync"/>) and the worker's connection with it. The run goes back to that worker,
    /// which has its resume state, to continue from its last saved epoch; the points past it are dropped, as on resume.
    /// Worker names must be unique among a cluster's workers.
    /// </summary>
    async Task<bool> ReclaimAsync(string connectionId, string name)
    {
        await using var db = await dbs.CreateDbContextAsync();
        var run = await db.Runs.AsNoTracking().Where(r => r.Status == RunStatus.Running && r.Worker == name).OrderBy(r => r.Id).FirstOrDefaultAsync();
        if (run is null) return false;
        lock (_workers)
            if (_workers.Values.Any(w => w.RunId == run.Id)) return false;
        await using (var transaction = await db.Database.BeginTransactionAsync())
        {
            await db.ForgetPastSavedEpochAsync(run);
            await transaction.CommitAsync();
        }
        log.LogWarning("Run {RunId} lost its server replica; worker {Worker} reconnected and resumes it after epoch {Epoch}", run.Id, name, run.EpochsDone);
        lock (_workers) _workers[connectionId] = new(name, run.Id, RunConfig.FromJson(run.ConfigJson));
        await hub.Groups.AddToGroupAsync(connectionId, Group(run.Id));
        feed.Publish(new RunUpdate(run.Id, Status: RunStatus.Queued));            // an open page reloads its history
        if (run.ResumeStep is null) await hub.Clients.Client(connectionId).SendAsync(WorkerProtocol.StartRun, run.Id, run.ConfigJson);
        else await hub.Clients.Client(connectionId).SendAsync(WorkerProtocol.ResumeRun, run.Id, run.ConfigJson, run.EpochsDone);
        feed.Publish(new RunUpdate(run.Id, Status: RunStatus.Running));
        return true;
    }

    /// <summary>The engine hub's group of the worker training run <paramref name="runId"/>, whichever replica it is connected to.</summary>
    public static string Group(long runId) => $"run-{runId}";

    /// <summary>Replicas sharing the database: queued runs another replica took in are found within a poll.</summary>
    protected override async Task ExecuteAsync(CancellationToken stopping)
    {
        if (!options.Value.UsesPostgres) return;
        using var timer = new PeriodicTimer(PollInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(stopping))
            {
                bool idle;
                lock (_workers) idle = _workers.Values.Any(w => w.Free);
                if (!idle) continue;
                try { await AssignAsync(); }
                catch (Exception e) when (e is not OperationCanceledException) { log.LogWarning(e, "Looking for queued runs failed"); }
            }
        }
        catch (OperationCanceledException) { }
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
                lock (_workers) free = [.. _workers.Where(w => w.Value.Free)];
                if (free.Count == 0) return;
                await using var db = await dbs.CreateDbContextAsync();
                var run = await db.Runs.AsNoTracking().Where(r => r.Status == RunStatus.Queued).OrderBy(r => r.Id).FirstOrDefaultAsync();
                if (run is null) return;
                // A resumed run's state is in the run folder of the worker that trained it: that one, when it is free.
                var idle = free.FirstOrDefault(w => run.ResumeStep is not null && w.Value.Name == run.Worker) is { Key: not null } trainedIt ? trainedIt : free[0];
                // Claimed only if still queued: another replica sharing the database may have taken it meanwhile.
                var now = DateTime.UtcNow;
                var claimed = await db.Runs.Where(r => r.Id == run.Id && r.Status == RunStatus.Queued).ExecuteUpdateAsync(u => u
                    .SetProperty(r => r.Status, RunStatus.Running).SetProperty(r => r.StartedAt, now).SetProperty(r => r.Worker, idle.Value.Name));
                if (claimed == 0) continue;
                lock (_workers) _workers[idle.Key] = idle.Value with { RunId = run.Id, Config = RunConfig.FromJson(run.ConfigJson) };
                await hub.Groups.AddToGroupAsync(idle.Key, Group(run.Id));
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
            if (_workers.TryGetValue(connectionId, out var w) && w.RunId == runId) _workers[connectionId] = w with { RunId = null, ReadyDue = true };
        _ = hub.Groups.RemoveFromGroupAsync(connectionId, Group(runId));
    }

    /// <summary>A worker that vanishes mid-run leaves its run interrupted, never "running" forever.</summary>
    public async Task WorkerGoneAsync(string connectionId)
    {
        WorkerState? gone;
        lock (_workers) _workers.Remove(connectionId, out gone);
        if (gone?.RunId is { } runId)
        {
            // Replicas: this replica may be the one stopping, or the connection dropped for a moment; the worker reconnects
            // to a replica and gets its run back (ReclaimAsync). The run stays "running" meanwhile; a worker that never
            // comes back lets its lease expire, and a replica then marks the run interrupted (WorkerLeases).
            if (options.Value.Replicated)
            {
                log.LogWarning("Worker {Worker} disconnected during run {RunId}: it stays running until the worker is back or its lease expires", gone.Name, runId);
                return;
            }
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
        if (connection is not null) await hub.Clients.Client(connection).SendAsync(WorkerProtocol.CancelRun, runId);
        else if (options.Value.UsesPostgres && run.Status == RunStatus.Running)
            await hub.Clients.Group(Group(runId)).SendAsync(WorkerProtocol.CancelRun, runId);      // its worker is on another replica
        else return false;
        return true;
    }
}
