using System.Collections.Concurrent;
using VaeWeb.Engine.Training;
using VaeWeb.Server.Data;

namespace VaeWeb.Server.Runs;

/// <summary>
/// Something that happened to a run: a training event from its worker, or a change of status. <paramref name="Remote"/>:
/// it happened on another server replica and came through <see cref="RunFeedRelay"/>.
/// </summary>
public sealed record RunUpdate(long RunId, TrainingEvent? Event = null, RunStatus? Status = null, string? Error = null, bool Remote = false);

/// <summary>
/// Fans run updates out to the pages watching them (Blazor circuits live in this process, so a page subscribes here
/// directly), and remembers each running run's latest step for progress bars.
/// </summary>
public sealed class RunFeed(ILogger<RunFeed> log)
{
    readonly ConcurrentDictionary<Guid, (long? RunId, Func<RunUpdate, Task> Handler)> _subscribers = new();
    readonly ConcurrentDictionary<long, StepReport> _latestStep = new();
    readonly ConcurrentDictionary<long, StageReport> _latestStage = new();

    /// <summary>Calls <paramref name="handler"/> for every update of <paramref name="runId"/> (null: of every run) until disposed.</summary>
    public IDisposable Subscribe(long? runId, Func<RunUpdate, Task> handler)
    {
        var id = Guid.NewGuid();
        _subscribers[id] = (runId, handler);
        return new Subscription(() => _subscribers.TryRemove(id, out _));
    }

    public StepReport? LatestStep(long runId) => _latestStep.GetValueOrDefault(runId);

    /// <summary>What a running run said it was doing before its first step (loading data, …), for a page opened then.</summary>
    public StageReport? LatestStage(long runId) => _latestStage.GetValueOrDefault(runId);

    public void Publish(RunUpdate update)
    {
        if (update.Event is StepReport step) _latestStep[update.RunId] = step;
        if (update.Event is StageReport stage) _latestStage[update.RunId] = stage;
        if (update.Status is { } status && status != RunStatus.Running)
        {
            _latestStep.TryRemove(update.RunId, out _);
            _latestStage.TryRemove(update.RunId, out _);
        }
        foreach (var (runId, handler) in _subscribers.Values)
            if (runId is null || runId == update.RunId)
                _ = Deliver(handler, update);
    }

    async Task Deliver(Func<RunUpdate, Task> handler, RunUpdate update)
    {
        try { await handler(update); }
        catch (Exception e) { log.LogWarning(e, "A page failed to take an update of run {RunId}", update.RunId); }
    }

    sealed class Subscription(Action dispose) : IDisposable
    {
        public void Dispose() => dispose();
    }
}
