namespace VaeWeb.Server.Runs;

/// <summary>The queue's limit, from configuration section "Engine" (next to the engine's own options).</summary>
public sealed class RunQueueOptions
{
    /// <summary>Runs that may wait for a worker at once; one more is refused until some start, finish or are cancelled.</summary>
    public int MaxQueuedRuns { get; set; } = 20;
}

/// <summary>A run refused because <see cref="RunQueueOptions.MaxQueuedRuns"/> runs are already waiting.</summary>
public sealed class RunQueueFullException(int queued)
    : InvalidOperationException($"{queued} runs are already queued; wait for some to finish or cancel them.");
