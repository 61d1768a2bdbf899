using System.Diagnostics;
using Microsoft.EntityFrameworkCore;
using VaeWeb.Engine.Data;
using VaeWeb.Engine.Exploration;
using VaeWeb.Engine.Models;
using VaeWeb.Engine.Native;
using VaeWeb.Engine.Training;
using VaeWeb.Server.Data;

namespace VaeWeb.Server.Explore;

/// <summary>
/// What a person asked an explore view for: everything that determines its images, so a gallery can store it as
/// provenance and make the same images again. The input digit is a test-set index or a drawing (784 bytes, MNIST-like).
/// </summary>
public sealed record ExploreRequest
{
    /// <summary>samples | restyle | complete | interpolate | manifold | classify.</summary>
    public string View { get; init; } = ExploreViews.Samples;
    public double Temperature { get; init; } = 1;
    public long Seed { get; init; } = 1;
    public int? TestIndex { get; init; }
    /// <summary>A drawn digit, 28x28 intensities as bytes (0 = background, 255 = ink), used when TestIndex is null.</summary>
    public byte[]? Drawing { get; init; }
    public int? Label { get; init; }
    /// <summary>Completion: top | bottom | left | right, or "mask" with <see cref="Mask"/> (784 bytes, nonzero = erased).</summary>
    public string Region { get; init; } = "bottom";
    public byte[]? Mask { get; init; }
    public int Count { get; init; } = 6;
    public int? ToTestIndex { get; init; }
    /// <summary>Interpolation steps; the manifold grid's side.</summary>
    public int Steps { get; init; } = 10;
    public bool Spherical { get; init; }
    /// <summary>Completion: draw the missing pixels as Bernoulli samples (the pseudo-Gibbs chain) instead of their means.</summary>
    public bool SampleMissing { get; init; }

    /// <summary>The settings that made this view's images, as (name, value) rows: a gallery's provenance lists these
    /// and nothing its view ignores (a sample grid has no region, a completion no temperature).</summary>
    public IEnumerable<(string Name, string Value)> Settings()
    {
        IEnumerable<(string, string)> Input() => TestIndex is { } t ? [("test digit", $"{t}")]
            : Drawing is not null ? [("input", "a drawing, 28x28 pixels, stored")] : [];
        IEnumerable<(string, string)> ChosenLabel() => Label is { } y ? [("label", $"{y}")] : [];
        return View switch
        {
            ExploreViews.Samples => [("temperature", $"{Temperature:G3}"), ("seed", $"{Seed}")],
            ExploreViews.Restyle => [.. Input(), .. ChosenLabel()],
            ExploreViews.Complete => [.. Input(), ("erased", Region == "mask" ? "brushed pixels (28x28 mask, stored)" : $"{Region} half"),
                ("completions", $"{Count}"), ("missing pixels", SampleMissing ? "sampled (pseudo-Gibbs)" : "Bernoulli means (approximate)"), ("seed", $"{Seed}"), .. ChosenLabel()],
            ExploreViews.Interpolate => [("from test digit", $"{TestIndex}"), ("to test digit", $"{ToTestIndex}"), ("steps", $"{Steps}"),
                ("path", Spherical ? "spherical" : "linear")],
            ExploreViews.Manifold => [("grid", $"{Steps}x{Steps}"), .. ChosenLabel()],
            ExploreViews.Classify => Input(),
            _ => [],
        };
    }
}

public static class ExploreViews
{
    public const string Samples = "samples", Restyle = "restyle", Complete = "complete", Interpolate = "interpolate", Manifold = "manifold", Classify = "classify";
    public static readonly string[] All = [Samples, Restyle, Complete, Interpolate, Manifold, Classify];
}

/// <summary>A view's images; for a model that draws in steps, its samples also as the <see cref="Animation"/> of their drawing.</summary>
public sealed record ExploreResult(ImageGrid Grid, string Title, int Epoch, Animation? Animation = null);

/// <summary>An animation of a run's model, the checkpoint that drew it, and what it shows.</summary>
public sealed record RunAnimation(string Title, int Epoch, Animation Animation);
public sealed record DrawingResult(float[] Probabilities, int Predicted, float[] Input, float[] Reconstruction, double ServerMilliseconds);
public sealed record LatentMap(float[] X, float[] Y, int[] Labels, string Axes);

/// <summary>The run has no model to explore (unknown run, or no checkpoint yet): 404 in the API.</summary>
public sealed class ModelUnavailableException(string message) : Exception(message);

/// <summary>
/// Loads runs' checkpoints from the database into <see cref="TrainedModel"/>s (a few kept warm) and answers the explore
/// views. Models live in this process even when training happens on remote workers: inference is cheap on a CPU.
/// </summary>
public sealed class ExploreService(IDbContextFactory<VaeWebDb> dbs, DatasetCache datasets, ILogger<ExploreService> log) : IDisposable
{
    const int KeptModels = 4;
    readonly SemaphoreSlim _gate = new(1, 1);                               // one TorchSharp call at a time: 2 cores, and models are not thread-safe
    readonly LinkedList<(long RunId, int Epoch, TrainedModel Model)> _models = new();
    readonly System.Collections.Concurrent.ConcurrentDictionary<(long RunId, int Epoch, int K, int Images), LikelihoodEstimate> _estimates = new();

    public int TestCount(string dataset) => (int)datasets.Get(dataset).Test.Count;

    /// <summary>A test digit as intensities, and its label.</summary>
    public (float[] Pixels, int Label) TestDigit(string dataset, int index)
    {
        var test = datasets.Get(dataset).Test;
        if (index < 0 || index >= test.Count) throw new ArgumentException($"Test digits are numbered 0 to {test.Count - 1} (got {index}).");
        using var row = test.Images[index];
        using var label = test.Labels[index];
        return (row.data<float>().ToArray(), (int)label.item<long>());
    }

    public async Task<ExploreResult> RunAsync(long runId, ExploreRequest request)
    {
        if (!ExploreViews.All.Contains(request.View))
            throw new ArgumentException($"Unknown view '{request.View}'. Use one of: {string.Join(", ", ExploreViews.All)}.");
        return await WithModel(runId, model =>
        {
            if (request.View == ExploreViews.Classify)
            {
                // A drawing (or test digit) and its reconstruction, titled with the classifier's answer.
                var input = Input(model, request, out _);
                var (probabilities, reconstruction) = model.Classify(input);
                int predicted = Array.IndexOf(probabilities, probabilities.Max());
                return new ExploreResult(ImageGrid.FromIntensities(1, 2, input.Concat(reconstruction)),
                    $"{(request.TestIndex is { } t ? $"Test digit {t}" : "A drawn digit")} classified as {predicted} ({100 * probabilities[predicted]:F1}%), and its reconstruction", model.Epoch);
            }
            var grid = request.View switch
            {
                ExploreViews.Samples => model.Sample(CheckTemperature(request.Temperature), request.Seed),
                ExploreViews.Restyle => model.Restyle(Input(model, request, out var label), request.Label ?? label).Grid,
                ExploreViews.Manifold => model.Manifold(request.Steps, request.Label),
                ExploreViews.Complete => model.Complete(Input(model, request, out var label2), Mask(request, model.Image), request.Label ?? (model.NeedsLabel ? label2 : null), request.Count, request.Seed, sampleMissing: request.SampleMissing),
                _ => model.Interpolate(Input(model, request, out var la), ToInput(model, request, out var lb), model.NeedsLabel ? la : null, model.NeedsLabel ? lb : null, request.Steps, request.Spherical),
            };
            // Drawn with the grid, under the same lock: the animation's last frame is this grid, of this checkpoint.
            var animation = request.View == ExploreViews.Samples && model.Info.Has(Capability.Frames) ? model.SampleSteps(request.Temperature, request.Seed) : null;
            return new ExploreResult(grid, Title(model, request), model.Epoch, animation);
        });
    }

    public const string SampleAnimation = "samples", ReconstructionAnimation = "reconstructions";

    /// <summary>
    /// For a model that draws in steps: the run page's sample grid (its z: the evaluation seed, temperature 1) drawn
    /// step by step, or the first ten test digits' reconstructions with where each step read them.
    /// </summary>
    public Task<RunAnimation> AnimationAsync(long runId, string kind) => WithModel(runId, model =>
    {
        if (!model.Info.Has(Capability.Frames))
            throw new InvalidOperationException($"A {model.Info.Title} draws an image in one step: only models that draw in steps, such as DRAW, have an animation.");
        switch (kind)
        {
            case SampleAnimation:
                var samples = model.SampleSteps(1, Evaluation.EvaluationSeed);
                return new RunAnimation($"The samples of epoch {model.Epoch}, drawn in {samples.Steps} steps", model.Epoch, samples);
            case ReconstructionAnimation:
                var test = datasets.Get(model.Config.Dataset).Test;
                using (var images = test.Images.narrow(0, 0, Math.Min(Trainer.GridSide, test.Count)))
                using (var labels = test.Labels.narrow(0, 0, images.shape[0]))
                {
                    var reconstructions = model.ReconstructionSteps(images, labels);
                    return new RunAnimation($"Test digits reconstructed in {reconstructions.Steps} steps, epoch {model.Epoch}", model.Epoch, reconstructions);
                }
            default:
                throw new ArgumentException($"Unknown animation '{kind}'. Use {SampleAnimation} or {ReconstructionAnimation}.");
        }
    });

    /// <summary>Classifies a drawing (any size up to 1024x1024, intensities in [0, 1]) after MNIST-like preprocessing.</summary>
    public Task<DrawingResult> ClassifyDrawingAsync(long runId, float[] pixels, int width, int height) => WithModel(runId, model =>
    {
        var clock = Stopwatch.StartNew();
        var input = Drawing.ToMnist(pixels, width, height);
        var (probabilities, reconstruction) = model.Classify(input);
        var predicted = Array.IndexOf(probabilities, probabilities.Max());
        return new DrawingResult(probabilities, predicted, input, reconstruction, clock.Elapsed.TotalMilliseconds);
    });

    /// <summary>2-D coordinates of the first <paramref name="count"/> test digits' posterior means, with their labels.</summary>
    public Task<LatentMap> LatentMapAsync(long runId, int count) => WithModel(runId, model =>
    {
        var test = datasets.Get(model.Config.Dataset).Test;
        count = (int)Math.Min(count, test.Count);
        using var images = test.Images.narrow(0, 0, count);
        using var labels = test.Labels.narrow(0, 0, count);
        var (x, y, axes) = model.LatentMap(images, labels);
        return new LatentMap(x, y, labels.data<long>().ToArray().Select(l => (int)l).ToArray(), axes);
    });

    /// <summary>The reconstruction of a test digit (for the latent map's click).</summary>
    public Task<float[]> ReconstructTestDigitAsync(long runId, int index) => WithModel(runId, model =>
    {
        var (pixels, label) = TestDigit(model.Config.Dataset, index);
        return model.Reconstruct(pixels, model.NeedsLabel ? label : null);
    });

    /// <summary>What the page needs to know of a run's model before offering views.</summary>
    public Task<(RunConfig Config, int Epoch, int Latent)> DescribeAsync(long runId) => WithModel(runId, m => (m.Config, m.Epoch, m.Latent));

    /// <summary>
    /// The kept checkpoint's test bound and importance-weighted estimate (see <see cref="TrainedModel.EstimateLikelihood"/>),
    /// computed off the caller's thread and remembered per checkpoint, k and image count. It holds the model gate while
    /// it runs, as every model call does: one TorchSharp computation at a time on this machine.
    /// </summary>
    public Task<LikelihoodEstimate> EstimateLikelihoodAsync(long runId, int k, int images, Action<double>? progress = null, CancellationToken cancellationToken = default) =>
        WithModelAsync(runId, async model =>
        {
            var key = (runId, model.Epoch, k, images);
            if (_estimates.TryGetValue(key, out var known)) return known;
            var test = datasets.Get(model.Config.Dataset).Test;
            // Up to minutes of computation: a thread of its own, not one the server's requests and circuits need.
            return _estimates[key] = await Task.Factory.StartNew(() => model.EstimateLikelihood(test, k, images, progress, cancellationToken),
                cancellationToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        }, cancellationToken);

    /// <summary>Every estimate made for the run, each naming the checkpoint's epoch it scored.</summary>
    public IReadOnlyList<LikelihoodEstimate> KnownEstimates(long runId) => [.. _estimates.Where(e => e.Key.RunId == runId).Select(e => e.Value)];

    Task<T> WithModel<T>(long runId, Func<TrainedModel, T> use) => WithModelAsync(runId, model => Task.FromResult(use(model)));

    async Task<T> WithModelAsync<T>(long runId, Func<TrainedModel, Task<T>> use, CancellationToken cancellationToken = default)
    {
        await _gate.WaitAsync(cancellationToken);
        try { return await use(await ModelAsync(runId)); }
        finally { _gate.Release(); }
    }

    /// <summary>The run's latest checkpoint, reloaded when a training run has saved a newer one.</summary>
    async Task<TrainedModel> ModelAsync(long runId)
    {
        await using var db = await dbs.CreateDbContextAsync();
        var run = await db.Runs.AsNoTracking().FirstOrDefaultAsync(r => r.Id == runId)
            ?? throw new ModelUnavailableException($"There is no run {runId}.");
        var epoch = await db.Checkpoints.Where(c => c.RunId == runId).Select(c => (int?)c.Epoch).FirstOrDefaultAsync()
            ?? throw new ModelUnavailableException($"Run {runId} has no checkpoint yet: one is saved at the end of every epoch.");
        var node = _models.First;
        while (node is not null && !(node.Value.RunId == runId && node.Value.Epoch == epoch)) node = node.Next;
        if (node is not null)
        {
            _models.Remove(node);
            _models.AddFirst(node);
            return node.Value.Model;
        }
        var bytes = await db.Checkpoints.Where(c => c.RunId == runId).Select(c => c.Model).FirstAsync();
        TorchRuntime.EnsureInitialized();                                    // the embedded worker may be off: no training has loaded TorchSharp
        var model = TrainedModel.Load(bytes, RunConfig.FromJson(run.ConfigJson), epoch);
        log.LogInformation("Loaded run {RunId}'s epoch {Epoch} checkpoint for exploring", runId, epoch);
        _models.AddFirst((runId, epoch, model));
        while (_models.Count > KeptModels) { _models.Last!.Value.Model.Dispose(); _models.RemoveLast(); }
        return model;
    }

    float[] Input(TrainedModel model, ExploreRequest request, out int? label)
    {
        label = null;
        if (request.TestIndex is { } index)
        {
            var (pixels, l) = TestDigit(model.Config.Dataset, index);
            label = l;
            return Quantized(pixels);
        }
        if (request.Drawing is { } drawing)
        {
            if (drawing.Length != TrainedModel.Pixels) throw new ArgumentException($"A drawing must have {TrainedModel.Pixels} pixels (28x28), got {drawing.Length}.");
            return drawing.Select(b => b / 255f).ToArray();
        }
        throw new ArgumentException("Choose a test digit (testIndex) or send a drawing.");
    }

    float[] ToInput(TrainedModel model, ExploreRequest request, out int? label)
    {
        if (request.ToTestIndex is not { } index) throw new ArgumentException("Interpolation needs a second test digit (toTestIndex).");
        var (pixels, l) = TestDigit(model.Config.Dataset, index);
        label = l;
        return Quantized(pixels);
    }

    // Test digits are bytes/255 already; rounding keeps a drawing and a test digit on the same 8-bit footing.
    static float[] Quantized(float[] pixels) => pixels.Select(p => MathF.Round(p * 255) / 255).ToArray();

    static double CheckTemperature(double t) => t is > 0 and <= 3 && double.IsFinite(t) ? t : throw new ArgumentException($"Temperature must be in (0, 3] (got {t}).");

    /// <summary>One flag per pixel location of the model's images (784 for 28x28, 1024 for 32x32 colour), true where erased.</summary>
    public static bool[] Mask(ExploreRequest request, ImageShape image)
    {
        int h = image.Height, w = image.Width;
        var mask = new bool[h * w];
        for (int i = 0; i < mask.Length; i++)
        {
            int row = i / w, col = i % w;
            mask[i] = request.Region switch
            {
                "top" => row < h / 2,
                "bottom" => row >= h / 2,
                "left" => col < w / 2,
                "right" => col >= w / 2,
                "mask" => request.Mask is { } m && m.Length == mask.Length ? m[i] != 0
                    : throw new ArgumentException($"Region 'mask' needs a mask of {mask.Length} values ({h}x{w})."),
                _ => throw new ArgumentException($"Unknown region '{request.Region}'. Use top, bottom, left, right or mask."),
            };
        }
        return mask;
    }

    static string Title(TrainedModel model, ExploreRequest r) => r.View switch
    {
        ExploreViews.Samples => $"Samples at temperature {r.Temperature:G3}, seed {r.Seed}" + (model.IsConditional ? ", one row per class" : ""),
        ExploreViews.Restyle => $"Test digit {r.TestIndex?.ToString() ?? "(drawn)"} restyled as every class",
        ExploreViews.Complete => $"Completions of {(r.TestIndex is { } i ? $"test digit {i}" : "a drawn digit")} with {(r.Region == "mask" ? "brushed pixels" : $"the {r.Region}")} erased, seed {r.Seed}",
        ExploreViews.Manifold => $"The learned 2-D manifold, {r.Steps}x{r.Steps}" + (r.Label is { } y ? $", digit {y}" : ""),
        _ => $"{(r.Spherical ? "Spherical" : "Linear")} interpolation from test digit {r.TestIndex} to {r.ToTestIndex}",
    };

    public void Dispose()
    {
        foreach (var (_, _, model) in _models) model.Dispose();
    }
}
