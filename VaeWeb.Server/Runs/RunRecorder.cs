using Microsoft.AspNetCore.SignalR;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Npgsql;
using VaeWeb.Engine.Training;
using VaeWeb.Server.Data;

namespace VaeWeb.Server.Runs;

/// <summary>
/// Persists what workers report and passes it on to <see cref="RunFeed"/>. Step metrics are buffered and written in
/// batches (one transaction every half second at most), epochs, images and statuses at once.
/// </summary>
public sealed class RunRecorder(IDbContextFactory<VaeWebDb> dbs, RunFeed feed, ILogger<RunRecorder> log) : BackgroundService
{
    readonly List<MetricPoint> _pending = [];
    readonly SemaphoreSlim _writeGate = new(1, 1);

    public async Task RecordAsync(long runId, TrainingEvent e)
    {
        switch (e)
        {
            case StepReport s:
                lock (_pending) _pending.AddRange(Points(runId, "step", s.Epoch, s.Step, s.Metrics));
                break;
            case EpochReport r:
                lock (_pending)
                {
                    _pending.AddRange(Points(runId, "train", r.Epoch, r.Step, r.Train));
                    _pending.AddRange(Points(runId, "test", r.Epoch, r.Step, r.Test));
                    if (r.Validation is { } validation) _pending.AddRange(Points(runId, "validation", r.Epoch, r.Step, validation));
                }
                await FlushAsync();
                await using (var db = await dbs.CreateDbContextAsync())
                {
                    var run = await db.Runs.FindAsync(runId);
                    if (run is null) return;
                    // The kept checkpoint's test numbers: the latest epoch's, or (semi-supervised) the best validation epoch's.
                    var elbo = r.Test.TryGetValue(Metrics.Elbo, out var testElbo) ? testElbo : (double?)null;
                    if (r.Validation is null) run.TestElbo = elbo;
                    else if (r.Validation.TryGetValue(Metrics.Error, out var validationError) && r.Test.TryGetValue(Metrics.Error, out var testError)
                        && (run.BestValidationError is null || validationError < run.BestValidationError))
                        (run.BestValidationError, run.TestErrorAtBest, run.TestElbo) = (validationError, testError, elbo);
                    await db.SaveChangesAsync();
                }
                break;
            case EpochSaved saved:
                // The epoch counts as done only now, with its images and checkpoint in: a run killed before redoes it.
                await FlushAsync();
                await using (var db = await dbs.CreateDbContextAsync())
                {
                    var run = await db.Runs.FindAsync(runId);
                    if (run is null) return;
                    (run.EpochsDone, run.ResumeStep) = (saved.Epoch, saved.Step);
                    run.Progress = (double)saved.Epoch / RunConfig.FromJson(run.ConfigJson).Epochs;
                    await db.SaveChangesAsync();
                }
                break;
            case EpochImages images:
                await using (var db = await dbs.CreateDbContextAsync())
                {
                    db.Images.Add(ToEntity(runId, images.Epoch, "samples", images.Samples));
                    db.Images.Add(ToEntity(runId, images.Epoch, "reconstructions", images.Reconstructions));
                    await db.SaveChangesAsync();
                }
                break;
        }
        feed.Publish(new RunUpdate(runId, e));
    }

    /// <summary>
    /// Stores a checkpoint that arrives in chunks. It is spooled to a temporary file first (the database is not locked
    /// while the network is slow), then written into the row's blob in place, so a 400 MB checkpoint never sits in
    /// memory whole. A transfer that breaks or does not add up to <paramref name="length"/> leaves the old one.
    /// </summary>
    public async Task SaveCheckpointAsync(long runId, int epoch, long length, IAsyncEnumerable<byte[]> chunks, CancellationToken cancel)
    {
        var spool = Path.GetTempFileName();
        try
        {
            long received = 0;
            await using (var file = File.Create(spool))
                await foreach (var chunk in chunks.WithCancellation(cancel))
                {
                    received += chunk.Length;
                    if (received > length) throw new HubException($"Run {runId}: the checkpoint is longer than the {length:N0} bytes announced.");
                    await file.WriteAsync(chunk, cancel);
                }
            if (received != length) throw new HubException($"Run {runId}: the checkpoint has {received:N0} of the {length:N0} bytes announced.");

            await using var db = await dbs.CreateDbContextAsync(cancel);
            if (!db.Database.IsSqlite())
            {
                // PostgreSQL: Npgsql streams a Stream parameter into the bytea value.
                await using var file = File.OpenRead(spool);
                var model = new NpgsqlParameter("model", NpgsqlTypes.NpgsqlDbType.Bytea) { Value = file, Size = (int)length };
                await db.Database.ExecuteSqlAsync($"""
                    INSERT INTO "Checkpoints" ("RunId", "Epoch", "Model") VALUES ({runId}, {epoch}, {model})
                    ON CONFLICT ("RunId") DO UPDATE SET "Epoch" = excluded."Epoch", "Model" = excluded."Model"
                    """, cancel);
                return;
            }
            var connection = (SqliteConnection)db.Database.GetDbConnection();
            await connection.OpenAsync(cancel);
            await using var transaction = (SqliteTransaction)await connection.BeginTransactionAsync(cancel);
            await using (var upsert = connection.CreateCommand())
            {
                upsert.CommandText = """
                    INSERT INTO Checkpoints (RunId, Epoch, Model) VALUES ($run, $epoch, zeroblob($length))
                    ON CONFLICT (RunId) DO UPDATE SET Epoch = excluded.Epoch, Model = excluded.Model
                    """;
                upsert.Parameters.AddWithValue("$run", runId);
                upsert.Parameters.AddWithValue("$epoch", epoch);
                upsert.Parameters.AddWithValue("$length", length);
                if (await upsert.ExecuteNonQueryAsync(cancel) == 0) return;    // the run was deleted meanwhile
            }
            // RunId is the INTEGER PRIMARY KEY, so it is the row id the blob is opened by.
            await using (var blob = new SqliteBlob(connection, "Checkpoints", "Model", runId))
            await using (var file = File.OpenRead(spool))
                await file.CopyToAsync(blob, cancel);
            await transaction.CommitAsync(cancel);
        }
        catch (Exception e) when (e is SqliteException { SqliteErrorCode: 19 } or PostgresException { SqlState: PostgresErrorCodes.ForeignKeyViolation })
        {
            log.LogInformation("Run {RunId} was deleted before its checkpoint arrived", runId);
        }
        finally { File.Delete(spool); }
    }

    /// <summary>Sets a run's final status after writing every metric still buffered.</summary>
    public async Task FinishAsync(long runId, RunStatus status, string? error)
    {
        await FlushAsync();
        await using (var db = await dbs.CreateDbContextAsync())
        {
            var run = await db.Runs.FindAsync(runId);
            if (run is null) return;
            run.Status = status;
            run.Error = error;
            run.FinishedAt = DateTime.UtcNow;
            if (status == RunStatus.Completed) run.Progress = 1;
            await db.SaveChangesAsync();
        }
        log.LogInformation("Run {RunId} ended: {Status} {Error}", runId, status, error);
        feed.Publish(new RunUpdate(runId, Status: status, Error: error));
    }

    public async Task FlushAsync()
    {
        await _writeGate.WaitAsync();
        try
        {
            MetricPoint[] batch;
            lock (_pending) { batch = [.. _pending]; _pending.Clear(); }
            if (batch.Length == 0) return;
            await using var db = await dbs.CreateDbContextAsync();
            db.Metrics.AddRange(batch);
            await db.SaveChangesAsync();                                     // one transaction for the whole batch
        }
        catch (DbUpdateException e) { log.LogWarning(e, "Dropped a batch of metric points (their run was deleted?)"); }
        finally { _writeGate.Release(); }
    }

    protected override async Task ExecuteAsync(CancellationToken stopping)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(500));
        try
        {
            while (await timer.WaitForNextTickAsync(stopping))
            {
                // A background service's exception stops the whole host: a failed write costs its points, not the server.
                try { await FlushAsync(); }
                catch (Exception e) when (e is not OperationCanceledException) { log.LogError(e, "Writing a batch of metric points failed; the points are lost, the server goes on"); }
            }
        }
        catch (OperationCanceledException) { }
        await FlushAsync();
    }

    static IEnumerable<MetricPoint> Points(long runId, string scope, int epoch, long step, IReadOnlyDictionary<string, double> metrics) =>
        metrics.Select(m => new MetricPoint { RunId = runId, Scope = scope, Name = m.Key, Epoch = epoch, Step = step, Value = m.Value });

    static EpochImage ToEntity(long runId, int epoch, string kind, ImageGrid grid) => new()
    {
        RunId = runId, Epoch = epoch, Kind = kind, Rows = grid.Rows, Cols = grid.Cols, Height = grid.Height, Width = grid.Width, Pixels = grid.Pixels,
    };
}
