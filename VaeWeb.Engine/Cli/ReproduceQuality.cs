using System.Globalization;
using System.Text;
using System.Text.Json;
using VaeWeb.Engine.Models;
using VaeWeb.Engine.Quality;
using VaeWeb.Engine.Training;
using Architecture = VaeWeb.Engine.Training.Architecture;

namespace VaeWeb.Engine.Cli;

/// <summary>
/// `reproduce`'s third family (issue 14): how real a model's samples look after a fixed training time, on one axis for
/// VAEs and GANs — the Fréchet distance between the test images and 10,000 samples on our MNIST classifier's features
/// (<see cref="SampleQuality"/>; not an FID), and that classifier's confidence on the samples. A row with a reference
/// row (the VAE-GAN's is the conv VAE with the same encoder and decoder) shows the ratio of their distances, seed by seed.
/// </summary>
static partial class ReproduceCommand
{
    /// <param name="Reference">The row this one is read against (same networks, same budget); null for a baseline.</param>
    public sealed record QualityExperiment(string Name, RunConfig Config, string Description, string? Reference = null);

    /// <summary>
    /// Minutes of every quality row: one budget for the family, so rows compare at equal training time. 20, not the first
    /// measurements' 10: in 10 minutes the VAE-GAN finished 4 epochs, the first 3 spent with its KL near 0 before its
    /// discriminator's features told digits apart, so the row measured its warm-up more than the model.
    /// </summary>
    public const double QualityMinutes = 20;

    // Latent 50 and Adam at 1e-3 (the VAE family's). The conv VAE and the VAE-GAN both learn from grey levels, so they
    // differ only in the VAE-GAN's loss: a discriminator would tell binary real digits from grey decoder means.
    static RunConfig QualityConfig(string model, Architecture arch) => new()
    {
        Model = model, Arch = arch, Latent = 50, Epochs = RunConfig.MaxEpochs, MaxMinutes = QualityMinutes,
    };

    public static readonly QualityExperiment[] QualityRows =
    [
        new("conv-vae-quality", QualityConfig(ModelKind.Vae, Architecture.Conv) with { Binarize = Binarization.None }, "conv VAE, grey levels"),
        // γ 1, the setting measured to work here (a Fréchet distance of 64 after 6 epochs; README), not Larsen et al.'s 1e-2.
        new("vae-gan-quality", QualityConfig(ModelKind.VaeGan, Architecture.Conv) with { Binarize = Binarization.None, Gamma = 1 },
            "VAE-GAN, γ 1 (the conv VAE's encoder and decoder)", Reference: "conv-vae-quality"),
        // The conditional pair: a conv CVAE with the CVAE-GAN's encoder and decoder, and the CVAE-GAN (γ 1, as the VAE-GAN).
        new("conv-cvae-quality", QualityConfig(ModelKind.Cvae, Architecture.Conv) with { Binarize = Binarization.None }, "conv CVAE, grey levels"),
        new("cvae-gan-quality", QualityConfig(ModelKind.CvaeGan, Architecture.Conv) with { Binarize = Binarization.None, Gamma = 1 },
            "CVAE-GAN, γ 1 (the conv CVAE's encoder and decoder)", Reference: "conv-cvae-quality"),
        // DRAW as issue 13's curve (T = 16, read and write 5x5), and DRAW-GAN: the same DRAW and a discriminator on its canvas.
        new("draw-quality", DrawConfig(16, true, 5, 5, QualityMinutes), "DRAW, T = 16, attention (read 5x5, write 5x5)"),
        new("draw-gan-quality", DrawConfig(16, true, 5, 5, QualityMinutes) with { Model = ModelKind.DrawGan },
            "DRAW-GAN, λ 1 (the same DRAW, a discriminator on its final canvas)", Reference: "draw-quality"),
    ];

    /// <summary>One quality measurement: the last epoch's sample quality (and test bound, for models with a likelihood).</summary>
    /// <param name="Confident">% of the samples the classifier gives a class at probability ≥ 0.9.</param>
    /// <param name="Samples">The last epoch's 10x10 sample grid, copied beside the table (relative to it); every run of one
    /// latent size draws it from the same z.</param>
    public sealed record QualityResult(string Name, long Seed, string Config, int Epochs, double Frechet, double Confidence, double Confident,
        double? TestBound, double Minutes, double BudgetMinutes, DateTime FinishedUtc, string Machine, string? Commit, string? Note = null,
        string? Samples = null);

    /// <summary>The quality measurements' file beside the table: docs/results.md → docs/results-quality.json.</summary>
    static string QualityStore(string table) => Path.Combine(Path.GetDirectoryName(Path.GetFullPath(table))!, Path.GetFileNameWithoutExtension(table) + "-quality.json");

    public static List<QualityResult> LoadQuality(string path) => File.Exists(path)
        ? JsonSerializer.Deserialize<List<QualityResult>>(File.ReadAllText(path), RunConfig.Json) ?? []
        : [];

    /// <summary>
    /// The run in <paramref name="folder"/>, from its own metrics.jsonl: the sample quality after its last epoch (a GAN
    /// keeps its last weights) and the training time then.
    /// </summary>
    public static QualityResult MeasureQuality(string name, RunConfig config, string folder, string? commit, string? tableFolder = null)
    {
        var events = File.ReadLines(new RunFolder(folder).MetricsFile).Select(l => JsonSerializer.Deserialize<TrainingEvent>(l, RunConfig.Json)).ToList();
        var last = events.OfType<EpochReport>().LastOrDefault()
            ?? throw new InvalidDataException($"The run in {folder} finished no epoch: there is no sample quality to record.");
        if (!last.Test.ContainsKey(SampleQuality.Frechet))
            throw new InvalidDataException($"The run in {folder} measured no sample quality: train the MNIST classifier first (`VaeWeb.Engine classifier`).");
        var minutes = events.OfType<StepReport>().Last().Elapsed.TotalMinutes;
        var finished = DateTime.UtcNow;
        string? samples = null;
        var grid = new RunFolder(folder).SamplesFile(last.Epoch);
        if (tableFolder is not null && File.Exists(grid))
        {
            // A new file per measurement, like the measurements themselves: an earlier grid is never replaced.
            samples = Path.Combine("quality-samples", $"{name}-seed{config.Seed}-{finished:yyyyMMdd-HHmmss}.png");
            Directory.CreateDirectory(Path.Combine(tableFolder, "quality-samples"));
            File.Copy(grid, Path.Combine(tableFolder, samples));
        }
        return new QualityResult(name, config.Seed, config.ToJson(), last.Epoch, last.Test[SampleQuality.Frechet], last.Test[SampleQuality.Confidence],
            last.Test[SampleQuality.Confident], last.Test.TryGetValue(Metrics.Elbo, out var elbo) ? -elbo : null, minutes, config.MaxMinutes,
            finished, Machine(), commit, Samples: samples);
    }

    /// <summary>A quality row's current measurements: its latest protocol's (config but seed, budget, cores), the latest per seed.</summary>
    static List<QualityResult> CurrentQuality(IEnumerable<QualityResult> results, string name) =>
        LatestProtocol(results.Where(r => r.Name == name), r => r.FinishedUtc, r => r.Seed, r => $"{r.BudgetMinutes}|{CoresIn(r.Machine)}|{WithoutSeed(r.Config)}");

    static string QualityMarkdown(List<QualityResult> results)
    {
        if (results.Count == 0) return "";
        var md = new StringBuilder();
        md.AppendLine();
        md.AppendLine("# Sample quality at equal training time");
        md.AppendLine();
        md.AppendLine("Written by `reproduce` from every measurement in results-quality.json beside it (appended, never replaced). Each run");
        md.AppendLine("trains until the epoch that ends past its budget, then its last weights draw 10,000 samples at temperature 1 from a");
        md.AppendLine("fixed seed. *Fréchet distance*: between Gaussians fitted to the penultimate features of our own MNIST classifier");
        md.AppendLine("(`VaeWeb.Engine classifier`, data/classifiers) on the 10,000 test images and on the samples (Heusel et al.'s");
        md.AppendLine("formula on that classifier, not Inception's: not an FID; lower is closer). *Confidence*: the classifier's mean top-class");
        md.AppendLine("probability on the samples; *≥ 0.9*: the % of samples it gives a class at 0.9 or more. *Ratio*: this row's distance");
        md.AppendLine("over its reference row's, per seed both rows have, then the mean. Rows: `reproduce --only NAME --seeds N`.");
        md.AppendLine();
        md.AppendLine("| configuration | budget | seeds | epochs | Fréchet distance | ratio to reference | confidence | samples ≥ 0.9 | seeds with ≥ 80% of samples ≥ 0.9 | test NLL (bound) | earlier |");
        md.AppendLine("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var row in QualityRows)
        {
            var current = CurrentQuality(results, row.Name);
            if (current.Count == 0) continue;
            string ratio = "–";
            if (row.Reference is { } reference)
            {
                var baseline = CurrentQuality(results, reference).ToDictionary(r => r.Seed);
                var ratios = current.Where(r => baseline.ContainsKey(r.Seed)).Select(r => r.Frechet / baseline[r.Seed].Frechet).ToList();
                if (ratios.Count > 0) ratio = $"{MeanStd(ratios, "F2", "×")} ({ratios.Count} seed{(ratios.Count == 1 ? "" : "s")}, vs {reference})";
            }
            // A bound is a test NLL bound only on binarized digits: on grey levels it is a cross-entropy against intensities.
            var bounds = current.Where(r => r.TestBound is not null && RunConfig.FromJson(r.Config).Binarize == Binarization.Dynamic)
                .Select(r => r.TestBound!.Value).ToList();
            var total = results.Count(r => r.Name == row.Name);
            md.AppendLine(CultureInfo.InvariantCulture,
                $"| {row.Description} | {current[0].BudgetMinutes:G4} min × {CoresOf(current[0].Machine)} | {string.Join(", ", current.Select(r => r.Seed))} | {MeanStd([.. current.Select(r => (double)r.Epochs)], "F1", "")} | **{MeanStd([.. current.Select(r => r.Frechet)], "F1", "")}** | {ratio} | {MeanStd([.. current.Select(r => r.Confidence)], "F3", "")} | {MeanStd([.. current.Select(r => r.Confident)], "F1", "%")} | {current.Count(r => r.Confident >= 80)} of {current.Count} | {(bounds.Count == 0 ? "–" : MeanStd(bounds, "F2", ""))} | {total - current.Count} |");
        }
        // Seed 1's latest grid of each row, side by side: rows of one latent size drew the same z.
        var grids = QualityRows.Select(q => (q.Description, Result: CurrentQuality(results, q.Name).FirstOrDefault(r => r.Seed == 1 && r.Samples is not null)))
            .Where(g => g.Result is not null).ToList();
        if (grids.Count > 0)
        {
            md.AppendLine();
            md.AppendLine("Samples after the budget, seed 1: the grid a run draws after every epoch, from the same z each time. The conv VAE and the");
            md.AppendLine("VAE-GAN (50 latent units each) decode the same z, but two models trained apart need not map a z to the same digit:");
            md.AppendLine();
            md.AppendLine("| " + string.Join(" | ", grids.Select(g => g.Description)) + " |");
            md.AppendLine("|" + string.Concat(grids.Select(_ => "---|")));
            md.AppendLine("| " + string.Join(" | ", grids.Select(g => $"![{g.Description}]({g.Result!.Samples!.Replace('\\', '/')})")) + " |");
        }
        md.AppendLine();
        md.AppendLine("Every measurement:");
        md.AppendLine();
        foreach (var r in results.OrderBy(r => Array.FindIndex(QualityRows, q => q.Name == r.Name)).ThenBy(r => r.FinishedUtc))
            md.AppendLine(CultureInfo.InvariantCulture,
                $"- `{r.Name}`, seed {r.Seed}, {r.FinishedUtc:yyyy-MM-dd HH:mm} UTC, commit {r.Commit ?? "–"}, {r.Machine}{(r.Note is null ? "" : $" ({r.Note})")}: {r.Epochs} epochs in {r.Minutes:F1} min, Fréchet distance {r.Frechet:F1}, confidence {r.Confidence:F3}, {r.Confident:F1}% ≥ 0.9{(r.TestBound is { } b ? $", test bound {b:F2}{(RunConfig.FromJson(r.Config).Binarize == Binarization.Dynamic ? "" : " (on grey levels: a cross-entropy, not an NLL bound)")}" : "")}. Config: `{JsonSerializer.Serialize(RunConfig.FromJson(r.Config), new JsonSerializerOptions(RunConfig.Json) { WriteIndented = false })}`");
        return md.ToString();
    }
}
