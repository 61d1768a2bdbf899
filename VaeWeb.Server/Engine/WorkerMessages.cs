using VaeWeb.Engine.Training;

namespace VaeWeb.Server.Engine;

/// <summary>
/// What the server accepts from a worker about the run it was given: numbers that fit the run's config. A worker is
/// trusted with the token, not with the database: a bad report is refused with the reason, never stored (an epoch
/// report saying "of 0 epochs" once stored an infinite progress that broke the runs list).
/// </summary>
public static class WorkerMessages
{
    /// <summary>Above the largest valid model's checkpoint (4 x 4096 hidden units, ≈ 430 MB).</summary>
    public const long MaximumCheckpointBytes = 2L * 1024 * 1024 * 1024;
    const int MaximumGridSide = 100, MaximumImageSide = 256, MaximumMetrics = 64;

    /// <summary>Why <paramref name="e"/> does not fit a run of <paramref name="config"/>, or null when it does.</summary>
    public static string? Problem(TrainingEvent e, RunConfig config) => e switch
    {
        StepReport s when s.Epoch < 0 || s.Epoch > config.Epochs => $"a step report of epoch {s.Epoch}, but the run has epochs 1 to {config.Epochs}.",
        StepReport s when s.TotalSteps < 0 || Math.Abs(s.Step) > s.TotalSteps => $"step {s.Step} of {s.TotalSteps} is not a step of the run.",
        StepReport s => Numbers(s.Metrics, s.ImagesPerSecond),
        EpochReport r when r.Epochs != config.Epochs => $"an epoch report of {r.Epochs} epochs, but the run has {config.Epochs}.",
        EpochReport r when r.Epoch < 1 || r.Epoch > config.Epochs => $"an epoch report for epoch {r.Epoch}, but the run has epochs 1 to {config.Epochs}.",
        EpochReport r => Numbers(r.Train, r.ImagesPerSecond) ?? Numbers(r.Test) ?? (r.Validation is { } v ? Numbers(v) : null),
        EpochImages i when i.Epoch < 1 || i.Epoch > config.Epochs => $"images of epoch {i.Epoch}, but the run has epochs 1 to {config.Epochs}.",
        EpochImages i => Grid(i.Samples, config.Image.Channels) ?? Grid(i.Reconstructions, config.Image.Channels),
        EpochSaved s when s.Epoch < 1 || s.Epoch > config.Epochs => $"epoch {s.Epoch} saved, but the run has epochs 1 to {config.Epochs}.",
        EpochSaved s when s.Step < 1 => $"epoch {s.Epoch} saved at step {s.Step}, before any step.",
        StageReport st when st.Stage.Length > 100 => "a stage name longer than 100 characters.",
        _ => null,
    };

    static string? Numbers(IReadOnlyDictionary<string, double> metrics, double rate = 0) =>
        metrics.Count > MaximumMetrics ? $"{metrics.Count} metrics in one report; at most {MaximumMetrics}."
        : metrics.Keys.FirstOrDefault(k => k.Length is 0 or > 64) is { } name ? $"the metric name '{name[..Math.Min(name.Length, 64)]}' is empty or too long."
        : !double.IsFinite(rate) || rate < 0 ? $"a rate of {rate} images per second."
        : null;

    /// <param name="channels">The run's dataset's: 1 byte per pixel for grey images, 3 (R, G, B planes) for colour.</param>
    static string? Grid(ImageGrid g, int channels) =>
        g.Rows is < 1 or > MaximumGridSide || g.Cols is < 1 or > MaximumGridSide || g.Height is < 1 or > MaximumImageSide || g.Width is < 1 or > MaximumImageSide
            ? $"an image grid of {g.Rows}x{g.Cols} images of {g.Height}x{g.Width}; at most {MaximumGridSide}x{MaximumGridSide} images of {MaximumImageSide}x{MaximumImageSide}."
        : g.Pixels.Length != (long)g.Rows * g.Cols * g.Height * g.Width * channels
            ? $"an image grid of {g.Rows}x{g.Cols} images of {g.Height}x{g.Width}{(channels == 1 ? "" : $"x{channels}")} needs {(long)g.Rows * g.Cols * g.Height * g.Width * channels:N0} bytes, not {g.Pixels.Length:N0}."
        : null;
}
