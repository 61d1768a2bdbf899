namespace VaeWeb.Engine.Training;

/// <summary>Trains a model from a <see cref="RunConfig"/>: the one loop behind the CLI, the web app and workers.</summary>
public static class Trainer
{
    /// <summary>
    /// Trains synchronously on the calling thread (run it on a worker thread), reporting through <paramref name="onEvent"/>.
    /// Writes config.json, metrics.jsonl, checkpoints and sample PNGs to <paramref name="outputDirectory"/> when given.
    /// Throws OperationCanceledException when <paramref name="cancellationToken"/> fires (after the current step).
    /// </summary>
    public static TrainingResult Run(RunConfig config, string? outputDirectory = null, Action<TrainingEvent>? onEvent = null,
        string? dataDirectory = null, CancellationToken cancellationToken = default)
        => throw new NotImplementedException("The training loop lands on main shortly.");
}
