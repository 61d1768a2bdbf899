using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using StackExchange.Redis;
using VaeWeb.Server.Data;
using VaeWeb.Server.Runs;

namespace VaeWeb.Server.Engine;

/// <summary>
/// Replicas (Engine:Redis): each replica keeps a short-lived Redis key for every worker connected to it
/// ("vaeweb:DATABASE:worker:NAME", renewed every <see cref="Renewal"/>, expiring after <see cref="Lifetime"/>). A run still
/// "running" on a worker whose key has expired lost both its replica and its worker (a worker that reconnects gets its
/// run back before that: <see cref="RunDispatcher"/>), so it is marked interrupted, to be resumed, never left running.
/// </summary>
public sealed class WorkerLeases(IConnectionMultiplexer redis, RunDispatcher dispatcher, IDbContextFactory<VaeWebDb> dbs, RunFeed feed,
    IOptions<EngineOptions> options, ILogger<WorkerLeases> log) : BackgroundService
{
    public static readonly TimeSpan Renewal = TimeSpan.FromSeconds(3), Lifetime = TimeSpan.FromSeconds(15);

    public const string WorkerLost = "Its worker and the server replica it was connected to both stopped while it was training. Its metrics and images up to then are kept; resume it to continue from its last finished epoch.";

    RedisKey Key(string worker) => $"{options.Value.RedisPrefix}worker:{worker}";

    protected override async Task ExecuteAsync(CancellationToken stopping)
    {
        dispatcher.WorkerConnected += name => _ = redis.GetDatabase().StringSetAsync(Key(name), "", Lifetime, flags: CommandFlags.FireAndForget);
        using var timer = new PeriodicTimer(Renewal);
        try
        {
            do
            {
                try { await RenewAndExpireAsync(); }
                catch (Exception e) when (e is not OperationCanceledException) { log.LogWarning(e, "Renewing the workers' leases failed"); }
            }
            while (await timer.WaitForNextTickAsync(stopping));
        }
        catch (OperationCanceledException) { }
    }

    async Task RenewAndExpireAsync()
    {
        var keys = redis.GetDatabase();
        foreach (var name in dispatcher.WorkerNames) await keys.StringSetAsync(Key(name), "", Lifetime);
        await using var db = await dbs.CreateDbContextAsync();
        var assignedBefore = DateTime.UtcNow - Lifetime;                   // a worker given a run just now may not have its key yet
        var running = await db.Runs.Where(r => r.Status == RunStatus.Running && r.StartedAt < assignedBefore).Select(r => new { r.Id, r.Worker }).ToListAsync();
        foreach (var run in running)
        {
            if (run.Worker is null || await keys.KeyExistsAsync(Key(run.Worker))) continue;
            var now = DateTime.UtcNow;
            var ended = await db.Runs.Where(r => r.Id == run.Id && r.Status == RunStatus.Running && r.Worker == run.Worker).ExecuteUpdateAsync(u => u
                .SetProperty(r => r.Status, RunStatus.Interrupted).SetProperty(r => r.FinishedAt, now).SetProperty(r => r.Error, WorkerLost));
            if (ended == 0) continue;                                         // another replica got there first
            log.LogWarning("Run {RunId} was training on worker {Worker}, which no replica has heard of for {Lifetime}: interrupted", run.Id, run.Worker, Lifetime);
            feed.Publish(new RunUpdate(run.Id, Status: RunStatus.Interrupted, Error: WorkerLost));
        }
    }
}
