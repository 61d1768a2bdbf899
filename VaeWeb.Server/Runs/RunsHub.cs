using System.Collections.Concurrent;
using Microsoft.AspNetCore.SignalR;
using VaeWeb.Engine.Training;
using VaeWeb.Server.Data;

namespace VaeWeb.Server.Runs;

/// <summary>
/// Live numbers of runs for scripts and dashboards outside the browser app (a notebook plotting a run as it trains):
/// a client calls <see cref="Watch"/> with a run id and receives <see cref="RunPoints"/> batches. Read-only, and like
/// every endpoint it needs the sign-in cookie or the bearer token.
/// </summary>
public sealed class RunsHub : Hub
{
    public const string Path = "/hubs/runs";
    /// <summary>The client method that receives a <see cref="RunPoints"/>.</summary>
    public const string PointsMethod = "Points";

    public static string Group(long runId) => $"run-{runId}";

    /// <summary>From now on, the run's batches come to this connection.</summary>
    public Task Watch(long runId) => Groups.AddToGroupAsync(Context.ConnectionId, Group(runId));

    public Task Unwatch(long runId) => Groups.RemoveFromGroupAsync(Context.ConnectionId, Group(runId));
}

/// <summary>A run's step reports since the previous batch, oldest first, and its status when that changed.</summary>
public sealed record RunPoints(long RunId, IReadOnlyList<StepReport> Steps, RunStatus? Status);

/// <summary>
/// Coalesces what the feed publishes into one <see cref="RunPoints"/> per run every <see cref="Interval"/>, sent once
/// to the run's group: the training loop's reports never wait on viewers, and 50 viewers cost one serialization and
/// 50 socket writes four times a second, whatever the step rate.
/// </summary>
public sealed class RunBroadcaster(RunFeed feed, IHubContext<RunsHub> hub, ILogger<RunBroadcaster> log) : BackgroundService
{
    public static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(250);
    readonly ConcurrentDictionary<long, ConcurrentQueue<RunUpdate>> _pending = new();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var subscription = feed.Subscribe(null, update =>
        {
            // A remote update's batches come from its own replica, through the SignalR backplane to every replica's watchers.
            if (!update.Remote && (update.Event is StepReport || update.Status is not null)) _pending.GetOrAdd(update.RunId, _ => new()).Enqueue(update);
            return Task.CompletedTask;
        });
        using var timer = new PeriodicTimer(Interval);
        while (await timer.WaitForNextTickAsync(stoppingToken))
            foreach (var (runId, queue) in _pending)
            {
                var steps = new List<StepReport>();
                RunStatus? status = null;
                while (queue.TryDequeue(out var update))
                {
                    if (update.Event is StepReport step) steps.Add(step);
                    status = update.Status ?? status;
                }
                if (status is not null and not RunStatus.Running and not RunStatus.Queued) _pending.TryRemove(runId, out _);
                if (steps.Count == 0 && status is null) continue;
                try { await hub.Clients.Group(RunsHub.Group(runId)).SendAsync(RunsHub.PointsMethod, new RunPoints(runId, steps, status), stoppingToken); }
                catch (Exception e) when (e is not OperationCanceledException) { log.LogWarning(e, "Sending run {RunId}'s points to its watchers failed", runId); }
            }
    }
}
