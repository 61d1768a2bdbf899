using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using VaeWeb.Engine.Training;
using VaeWeb.Server.Data;
using VaeWeb.Server.Engine;

namespace VaeWeb.Server.Runs;

/// <summary>A run's recorded history, as a page needs it to draw everything up to now.</summary>
public sealed record RunHistory(Run Run, RunConfig Config, IReadOnlyList<MetricPoint> Metrics, IReadOnlyList<EpochImage> Images);

/// <summary>What pages and the HTTP API do with runs: submit (validated), list, read, cancel, delete.</summary>
public sealed class RunService(IDbContextFactory<VaeWebDb> dbs, RunDispatcher dispatcher, RunRecorder recorder, RunFeed feed,
    IOptions<RunQueueOptions> queue, DataFolder data, ILogger<RunService> log)
{
    readonly SemaphoreSlim _submitting = new(1, 1);                          // counting the queue and adding to it, as one step

    /// <summary>
    /// Validates with the engine's own rules, queues the run and wakes an idle worker; throws
    /// <see cref="RunQueueFullException"/> when <see cref="RunQueueOptions.MaxQueuedRuns"/> runs are already waiting.
    /// </summary>
    public async Task<Run> SubmitAsync(RunConfig config, string? name)
    {
        config.ThrowIfInvalid();
        await _submitting.WaitAsync();
        try { return await QueueAsync(config, name); }
        finally { _submitting.Release(); }
    }

    async Task<Run> QueueAsync(RunConfig config, string? name)
    {
        var run = new Run
        {
            Name = string.IsNullOrWhiteSpace(name) ? $"{config.Model} {config.Arch} {config.Dataset}".ToLowerInvariant() : name.Trim()[..Math.Min(name.Trim().Length, 100)],
            ConfigJson = config.ToJson(),
            Status = RunStatus.Queued,
            CreatedAt = DateTime.UtcNow,
        };
        await using (var db = await dbs.CreateDbContextAsync())
        {
            var queued = await db.Runs.CountAsync(r => r.Status == RunStatus.Queued);
            if (queued >= queue.Value.MaxQueuedRuns) throw new RunQueueFullException(queued);
            db.Runs.Add(run);
            await db.SaveChangesAsync();
        }
        feed.Publish(new RunUpdate(run.Id, Status: RunStatus.Queued));
        await dispatcher.AssignAsync();
        return run;
    }

    public async Task<List<Run>> ListAsync()
    {
        await using var db = await dbs.CreateDbContextAsync();
        return await db.Runs.AsNoTracking().OrderByDescending(r => r.Id).ToListAsync();
    }

    public async Task<Run?> FindAsync(long id)
    {
        await using var db = await dbs.CreateDbContextAsync();
        return await db.Runs.AsNoTracking().FirstOrDefaultAsync(r => r.Id == id);
    }

    /// <summary>Everything recorded so far: one query for the metrics, one for the images.</summary>
    public async Task<RunHistory?> HistoryAsync(long id)
    {
        await recorder.FlushAsync();                                         // points still buffered belong to the history
        await using var db = await dbs.CreateDbContextAsync();
        var run = await db.Runs.AsNoTracking().FirstOrDefaultAsync(r => r.Id == id);
        if (run is null) return null;
        var metrics = await db.Metrics.AsNoTracking().Where(m => m.RunId == id).OrderBy(m => m.Id).ToListAsync();
        var images = await db.Images.AsNoTracking().Where(i => i.RunId == id).OrderBy(i => i.Epoch).ToListAsync();
        return new RunHistory(run, RunConfig.FromJson(run.ConfigJson), metrics, images);
    }

    /// <summary>Per-epoch test metrics of several runs, for the compare view.</summary>
    public async Task<List<MetricPoint>> EpochMetricsAsync(IReadOnlyCollection<long> runIds)
    {
        await using var db = await dbs.CreateDbContextAsync();
        return await db.Metrics.AsNoTracking().Where(m => runIds.Contains(m.RunId) && m.Scope != "step").OrderBy(m => m.Epoch).ToListAsync();
    }

    public Task<bool> CancelAsync(long id) => dispatcher.CancelAsync(id);

    /// <summary>
    /// Queues a cancelled or interrupted run to continue on a worker from its last saved epoch to its number of
    /// epochs (from the beginning when it saved none). The points and images past that epoch are deleted first: the
    /// epoch they belong to runs again, so the charts continue without a gap or a step twice. False when there is no
    /// such run; throws <see cref="InvalidOperationException"/> saying why when it cannot resume, or the queue is full.
    /// </summary>
    public async Task<bool> ResumeAsync(long id)
    {
        await _submitting.WaitAsync();
        try
        {
            await recorder.FlushAsync();                                     // none of its buffered points lands after the deletion
            await using (var db = await dbs.CreateDbContextAsync())
            {
                var run = await db.Runs.FindAsync(id);
                if (run is null) return false;
                if (!run.CanResume)
                    throw new InvalidOperationException($"Run {id} is {run.Status.ToString().ToLowerInvariant()}: only a run that was cancelled or interrupted while training can resume.");
                var queued = await db.Runs.CountAsync(r => r.Status == RunStatus.Queued);
                if (queued >= queue.Value.MaxQueuedRuns) throw new RunQueueFullException(queued);
                await using var transaction = await db.Database.BeginTransactionAsync();
                await db.ForgetPastSavedEpochAsync(run);
                (run.Status, run.Error, run.FinishedAt) = (RunStatus.Queued, null, null);
                await db.SaveChangesAsync();
                await transaction.CommitAsync();
            }
            log.LogInformation("Run {RunId} resumes", id);
            feed.Publish(new RunUpdate(id, Status: RunStatus.Queued));
            await dispatcher.AssignAsync();
            return true;
        }
        finally { _submitting.Release(); }
    }

    /// <summary>Engine:AutoResume: resumes the runs the last server stop interrupted (before any worker connects).</summary>
    public async Task ResumeInterruptedByStopAsync()
    {
        List<long> interrupted;
        await using (var db = await dbs.CreateDbContextAsync())
            interrupted = await db.Runs.Where(r => r.Status == RunStatus.Interrupted && r.Error == RunDispatcher.ServerStopped).Select(r => r.Id).ToListAsync();
        foreach (var id in interrupted)
        {
            try { await ResumeAsync(id); }
            catch (InvalidOperationException e) { log.LogWarning("Run {RunId} was not resumed: {Reason}", id, e.Message); }
        }
    }

    /// <summary>
    /// Deletes a run that is not training (cancel it first), with its metrics, images and checkpoint, and the embedded
    /// worker's run folder (a remote worker's folder is on its own machine). Galleries made from it stay: they are self-contained.
    /// </summary>
    public async Task<bool> DeleteAsync(long id)
    {
        await using var db = await dbs.CreateDbContextAsync();
        var run = await db.Runs.FindAsync(id);
        if (run is null) return false;
        if (run.Status == RunStatus.Running) throw new InvalidOperationException("Cancel the run before deleting it.");
        db.Runs.Remove(run);
        await db.SaveChangesAsync();
        var folder = RunFolder(id);
        try { if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { log.LogWarning(e, "Run {RunId} is deleted but its folder {Folder} is not", id, folder); }
        return true;
    }

    /// <summary>Where the embedded worker keeps run <paramref name="id"/>'s files (config, metrics, checkpoint, sample images).</summary>
    public string RunFolder(long id) => VaeWeb.Engine.Training.RunFolder.Of(data.Runs, id);
}
