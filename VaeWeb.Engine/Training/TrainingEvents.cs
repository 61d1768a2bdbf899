using System.Text.Json.Serialization;

namespace VaeWeb.Engine.Training;

/// <summary>What a training run reports while it runs; the CLI draws progress bars from it, a worker streams it.</summary>
/// <remarks>Serialized with a "type" discriminator, so one JSON line or message says which event it is.</remarks>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "type")]
[JsonDerivedType(typeof(StepReport), "step")]
[JsonDerivedType(typeof(EpochReport), "epoch")]
[JsonDerivedType(typeof(EpochImages), "images")]
[JsonDerivedType(typeof(CheckpointSaved), "checkpoint")]
[JsonDerivedType(typeof(StageReport), "stage")]
[JsonDerivedType(typeof(EpochSaved), "saved")]
public abstract record TrainingEvent;

/// <summary>
/// Losses of one logged training step, averaged per image over the steps since the last report (nats).
/// <paramref name="Metrics"/> holds e.g. "elbo", "reconstruction", "kl".
/// </summary>
public sealed record StepReport(
    int Epoch, long Step, long TotalSteps, IReadOnlyDictionary<string, double> Metrics,
    double ImagesPerSecond, TimeSpan Elapsed, TimeSpan? Eta) : TrainingEvent
{
    public double Fraction => TotalSteps == 0 ? 1 : (double)Step / TotalSteps;

    /// <summary>True when <see cref="Eta"/> is the time to the run's time limit, not to its last epoch.</summary>
    public bool StopsAtTimeLimit { get; init; }

    /// <summary>
    /// Time left from the mean step time so far. A run with a time limit stops at the end of the first epoch that
    /// ends past the limit (the loop checks it between epochs), which may come well before its last epoch.
    /// </summary>
    public static (TimeSpan Eta, bool AtTimeLimit) EstimateEta(TimeSpan elapsed, long step, long totalSteps, int epochs, double maxMinutes)
    {
        if (step <= 0 || totalSteps <= 0) return (TimeSpan.Zero, false);
        var perStep = elapsed / step;
        var toEnd = perStep * Math.Max(0, totalSteps - step);
        if (maxMinutes <= 0 || epochs <= 0) return (toEnd, false);
        long stepsPerEpoch = Math.Max(1, totalSteps / epochs);
        var perEpoch = perStep * stepsPerEpoch;
        long current = (step + stepsPerEpoch - 1) / stepsPerEpoch;          // the epoch in progress always finishes
        long last = Math.Max(current, (long)Math.Ceiling(TimeSpan.FromMinutes(maxMinutes) / perEpoch));
        if (last >= epochs) return (toEnd, false);
        var toLimit = perEpoch * last - elapsed;
        return (toLimit > TimeSpan.Zero ? toLimit : TimeSpan.Zero, true);
    }
}

/// <summary>
/// What a run is doing before its first step reports — "loading data", "building the model", "first step" — so that
/// a watcher sees a state instead of an empty chart.
/// </summary>
public sealed record StageReport(string Stage) : TrainingEvent
{
    public const string LoadingData = "loading data", BuildingModel = "building the model", Pretraining = "pre-training",
        FirstStep = "first step";
}

/// <summary>
/// Per-epoch averages on the training set ("train") and the test set ("test"); semi-supervised runs also score the
/// held-out validation set, which picks the checkpoint kept.
/// </summary>
public sealed record EpochReport(
    int Epoch, int Epochs, long Step, IReadOnlyDictionary<string, double> Train, IReadOnlyDictionary<string, double> Test,
    TimeSpan EpochDuration, double ImagesPerSecond) : TrainingEvent
{
    public IReadOnlyDictionary<string, double>? Validation { get; init; }
}

/// <summary>
/// Image grids made at the end of an epoch: samples from the prior (for conditional models one row per class, the same
/// z down each column) and test reconstructions.
/// </summary>
public sealed record EpochImages(int Epoch, ImageGrid Samples, ImageGrid Reconstructions) : TrainingEvent;

public sealed record CheckpointSaved(int Epoch, string Path) : TrainingEvent;

/// <summary>
/// Epoch <paramref name="Epoch"/> is on disk whole: its metrics, images, checkpoint and, last, its resume state, from
/// which a resumed run continues at global step <paramref name="Step"/> + 1. Only now does the epoch count as done: a
/// run killed before this redoes it.
/// </summary>
public sealed record EpochSaved(int Epoch, long Step) : TrainingEvent;

/// <summary>
/// A grid of Rows x Cols images of Height x Width, as raw bytes (0 = black, 255 = white) in image-major order: image
/// i = row * Cols + col occupies Pixels[i * S .. (i + 1) * S), S = Channels * Height * Width; a colour image is three
/// planes, R then G then B. Raw bytes, not PNG, so a browser can draw them on a canvas without the server encoding anything.
/// </summary>
public sealed record ImageGrid(int Rows, int Cols, int Height, int Width, byte[] Pixels)
{
    public int Count => Rows * Cols;

    /// <summary>1 for grey, 3 for colour: read from the bytes per image, so stored grids need no new column.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public int Channels => Count * Height * Width is var plane and > 0 && Pixels.Length == 3 * plane ? 3 : 1;

    /// <summary>
    /// Images given as intensities in [0, 1], image-major, rounded to bytes; their shape is the dataset's of as many
    /// values per image (784: 28x28 grey; 3072: 32x32x3 colour, channel-planar).
    /// </summary>
    public static ImageGrid FromIntensities(int rows, int cols, IEnumerable<float> intensities)
    {
        var bytes = intensities.Select(v => (byte)Math.Clamp(MathF.Round(v * 255), 0, 255)).ToArray();
        var shape = Data.ImageShape.Of(bytes.Length / Math.Max(1, rows * cols));
        return new(rows, cols, shape.Height, shape.Width, bytes);
    }
}

/// <summary>The outcome of a finished run.</summary>
public sealed record TrainingResult(RunConfig Config, string? OutputDirectory, IReadOnlyDictionary<string, double> FinalTest, TimeSpan Duration);

/// <summary>
/// The training diverged: a loss became NaN or infinite, or a GAN collapsed (<see cref="GanCollapse"/>). The message
/// says where and what to try; the run fails, and the checkpoint of its last completed epoch is the one kept.
/// </summary>
public sealed class TrainingDivergedException(string message) : Exception(message)
{
    /// <summary>What to say when a loss term of step <paramref name="step"/> is not finite.</summary>
    public static string AtStep(long step, int epoch, string term, double value, string? stage = null) =>
        $"The loss became {Kind(value)} at step {step} of {(epoch == 0 && !string.IsNullOrEmpty(stage) ? $"{stage} pre-training" : $"epoch {epoch}")} ({term} = {value}); try a lower learning rate.";

    /// <summary>The divergence a step or epoch report shows (a non-finite number), or null.</summary>
    public static string? Describe(TrainingEvent e)
    {
        static KeyValuePair<string, double>? FirstBad(IReadOnlyDictionary<string, double>? metrics) =>
            metrics?.FirstOrDefault(m => !double.IsFinite(m.Value)) is { Key: not null } bad ? bad : null;
        return e switch
        {
            StepReport s when FirstBad(s.Metrics) is { } bad => AtStep(s.Step, s.Epoch, bad.Key, bad.Value),
            EpochReport r when (FirstBad(r.Train) ?? FirstBad(r.Test) ?? FirstBad(r.Validation)) is { } bad =>
                $"The loss became {Kind(bad.Value)} by the end of epoch {r.Epoch} ({bad.Key} = {bad.Value}); try a lower learning rate.",
            _ => null,
        };
    }

    static string Kind(double value) => double.IsNaN(value) ? "NaN" : "infinite";

    public static void ThrowIfDiverged(TrainingEvent e)
    {
        if (Describe(e) is { } message) throw new TrainingDivergedException(message);
    }
}
