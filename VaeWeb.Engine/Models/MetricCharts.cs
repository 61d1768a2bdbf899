using VaeWeb.Engine.Quality;
using VaeWeb.Engine.Training;

namespace VaeWeb.Engine.Models;

/// <summary>
/// One curve of a chart: a metric the model reports, in a scope — "step" (each logged training step), or per epoch
/// "train", "validation" or "test" — and its legend.
/// </summary>
public sealed record MetricTrace(string Scope, string Metric, string Label);

/// <summary>
/// A chart a model declares (<see cref="ModelInfo.Charts"/>): the run page draws each with its curves, whatever the
/// model. <paramref name="Id"/> prefixes the chart's element id ("elbo" → "elbo-{runId}").
/// </summary>
public sealed record MetricChart(string Id, string Title, string YTitle, IReadOnlyList<MetricTrace> Traces)
{
    /// <summary>A logarithmic y axis, for terms that differ by orders of magnitude on one chart.</summary>
    public bool LogScale { get; init; }
    /// <summary>What to do when the chart has no points yet for a reason the run cannot fix (null: nothing to say).</summary>
    public string? WhenEmpty { get; init; }
}

/// <summary>The charts models share: VAEs chart their ELBO and its two terms, semi-supervised models their error and bounds.</summary>
public static class MetricCharts
{
    public static readonly MetricChart Elbo = new("elbo", "ELBO (nats per image)", "nats",
        [new("step", Metrics.Elbo, "train ELBO (step)"), new("train", Metrics.Elbo, "train ELBO (epoch)"), new("test", Metrics.Elbo, "test ELBO (epoch)")]);

    public static readonly MetricChart Terms = new("terms", "Reconstruction and KL", "nats",
    [
        new("step", Metrics.Reconstruction, "reconstruction (step)"), new("step", Metrics.Kl, "KL (step)"),
        new("test", Metrics.Reconstruction, "test reconstruction (epoch)"), new("test", Metrics.Kl, "test KL (epoch)"),
    ]);

    /// <summary>Colour models with an ELBO: the test bound in bits per dimension (discretized logistic; 8 is a uniform guess).</summary>
    public static readonly MetricChart BitsPerDim = new("bits", "Test bound in bits per dimension (8 = uniform over 256 levels)", "bits/dim",
        [new("test", Metrics.BitsPerDim, "test −ELBO / (D·ln 2) (epoch)")]);

    public static readonly MetricChart Error = new("error", "Classification error (%)", "% wrong",
        [new("validation", Metrics.Error, "validation error"), new("test", Metrics.Error, "test error")]);

    public static readonly MetricChart Bounds = new("bounds", "Semi-supervised loss terms (per image)", "nats",
    [
        new("step", Metrics.Labeled, "labeled L(x,y) (step)"), new("step", Metrics.Unlabeled, "unlabeled U(x) (step)"),
        new("step", Metrics.Classification, "−log q(y|x) labeled (step)"), new("step", "m1-" + Metrics.Elbo, "M1 ELBO (pre-training, steps ≤ 0)"),
    ]);

    /// <summary>Every model's samples, scored by our classifier each epoch once it has been trained (see <see cref="SampleQuality"/>).</summary>
    public static readonly MetricChart Quality = new("quality", "Sample quality: Fréchet distance on our classifier (lower is better)", "distance",
        [new("test", SampleQuality.Frechet, "samples vs test images (epoch)")])
    {
        WhenEmpty = "No sample-quality scores: the dataset's classifier has not been trained. Train it once with " +
            "`dotnet run --project VaeWeb.Engine -c Release -- classifier`; runs started after that score their samples every epoch.",
    };

    /// <summary>The sample-quality chart of colour runs: it stays empty, the classifier that scores samples being MNIST's.</summary>
    public static readonly MetricChart QualityOfColour = Quality with
    {
        WhenEmpty = "No sample-quality scores: the classifier that scores samples is MNIST's (28×28 grey), and `classifier` " +
            "refuses colour sets. Colour runs are compared by their test bound in bits per dimension.",
    };

    /// <summary>What a model that declares no charts of its own shows, by what it can do.</summary>
    public static IReadOnlyList<MetricChart> Default(Capability capabilities) =>
        (capabilities & Capability.SemiSupervised) != 0 ? [Error, Bounds] : [Elbo, Terms];
}
