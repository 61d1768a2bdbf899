using System.Diagnostics;
using VaeWeb.Engine.Data;
using VaeWeb.Engine.Models;
using VaeWeb.Engine.Native;
using static TorchSharp.torch;

namespace VaeWeb.Engine.Training;

/// <summary>Trains a model from a <see cref="RunConfig"/>: the one loop behind the CLI, the web app and workers.</summary>
public static class Trainer
{
    /// <summary>Step reports per epoch: enough for a smooth live curve, few enough to cost nothing.</summary>
    const int ReportsPerEpoch = 25;
    public const int GridSide = 10;

    /// <summary>
    /// Trains synchronously on the calling thread (run it on a worker thread), reporting through <paramref name="onEvent"/>.
    /// Writes config.json, metrics.jsonl, checkpoints and sample PNGs to <paramref name="outputDirectory"/> when given.
    /// Throws OperationCanceledException when <paramref name="cancellationToken"/> fires (after the current step).
    /// </summary>
    public static TrainingResult Run(RunConfig config, string? outputDirectory = null, Action<TrainingEvent>? onEvent = null,
        string? dataDirectory = null, CancellationToken cancellationToken = default)
    {
        using var data = new DatasetCache(dataDirectory);
        return Run(config, data, outputDirectory, onEvent, cancellationToken);
    }

    /// <summary>Trains on the config's dataset from <paramref name="data"/>, which keeps it loaded for the next run.</summary>
    public static TrainingResult Run(RunConfig config, DatasetCache data, string? outputDirectory = null, Action<TrainingEvent>? onEvent = null,
        CancellationToken cancellationToken = default)
    {
        config.ThrowIfInvalid();
        onEvent?.Invoke(new StageReport(StageReport.LoadingData));
        TorchRuntime.EnsureInitialized();
        var (train, test) = data.Get(config.Dataset);
        // The conditional trainer splits off validation images first, then applies the limits itself.
        if (config.IsConditional) return ConditionalTrainer.Run(config, train, test, outputDirectory, onEvent, cancellationToken);
        using var trainSubset = train.Take(config.TrainLimit);
        using var testSubset = test.Take(config.TestLimit);
        return Run(config, trainSubset, testSubset, outputDirectory, onEvent, cancellationToken);
    }

    /// <summary>Trains on data already in memory (tests and benchmarks pass their own subsets).</summary>
    public static TrainingResult Run(RunConfig config, ImageSet train, ImageSet test, string? outputDirectory = null,
        Action<TrainingEvent>? onEvent = null, CancellationToken cancellationToken = default)
    {
        config.ThrowIfInvalid();
        TorchRuntime.EnsureInitialized();
        if (config.IsConditional) return ConditionalTrainer.Run(config, train, test, outputDirectory, onEvent, cancellationToken);
        var folder = outputDirectory is null ? null : new RunFolder(outputDirectory);
        void Report(TrainingEvent e)
        {
            TrainingDivergedException.ThrowIfDiverged(e);                    // at the step it happens, before JSON chokes on NaN
            if (e is StepReport or EpochReport) folder?.AppendMetrics(e);
            onEvent?.Invoke(e);
        }
        folder?.WriteConfig(config);

        Report(new StageReport(StageReport.BuildingModel));
        var generator = new Generator((ulong)config.Seed);                  // shuffling, binarization, reparameterization
        using var model = ModelFactory.Create(config);
        model.Noise = generator;
        using var elboStep = new ElboStep(model, config, generator);

        long n = train.Count, stepsPerEpoch = (n + config.BatchSize - 1) / config.BatchSize;
        long totalSteps = stepsPerEpoch * config.Epochs, step = 0;
        long reportEvery = Math.Max(1, stepsPerEpoch / ReportsPerEpoch);
        var clock = Stopwatch.StartNew();
        Dictionary<string, double> testMetrics = [];
        Report(new StageReport(StageReport.FirstStep));

        for (int epoch = 1; epoch <= config.Epochs; epoch++)
        {
            model.train();
            var epochClock = Stopwatch.StartNew();
            double epochRec = 0, epochKl = 0, windowRec = 0, windowKl = 0;
            long windowImages = 0;
            var windowClock = Stopwatch.StartNew();
            using var order = randperm(n, generator: generator);
            for (long start = 0; start < n; start += config.BatchSize)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var size = Math.Min(config.BatchSize, n - start);
                double r, k;
                using (NewDisposeScope())
                    (r, k) = elboStep.Step(train.Images.index_select(0, order.narrow(0, start, size)));
                epochRec += r; epochKl += k; windowRec += r; windowKl += k; windowImages += size;
                step++;
                // Step 1 too: a watcher sees the first loss as soon as it exists.
                if (step == 1 || step % reportEvery == 0 || start + config.BatchSize >= n)
                {
                    var elapsed = clock.Elapsed;
                    var (eta, atLimit) = StepReport.EstimateEta(elapsed, step, totalSteps, config.Epochs, config.MaxMinutes);
                    Report(new StepReport(epoch, step, totalSteps, Metrics.Losses(windowRec / windowImages, windowKl / windowImages),
                        windowImages / windowClock.Elapsed.TotalSeconds, elapsed, eta) { StopsAtTimeLimit = atLimit });
                    windowRec = windowKl = 0; windowImages = 0; windowClock.Restart();
                }
            }
            var trainSeconds = epochClock.Elapsed.TotalSeconds;
            testMetrics = Evaluation.Elbo(model, test, config.Binarize);
            Report(new EpochReport(epoch, config.Epochs, step, Metrics.Losses(epochRec / n, epochKl / n), testMetrics,
                epochClock.Elapsed, n / trainSeconds));

            var images = new EpochImages(epoch, Samples(model), Reconstructions(model, test));
            folder?.WriteSamples(epoch, images.Samples);
            Report(images);
            if (folder is not null)
            {
                folder.SaveCheckpoint(model, config, epoch);
                Report(new CheckpointSaved(epoch, folder.ModelFile));
            }
            if (config.MaxMinutes > 0 && clock.Elapsed.TotalMinutes >= config.MaxMinutes) break;
        }
        return new TrainingResult(config, folder?.Path, testMetrics, clock.Elapsed);
    }

    /// <summary>A 10x10 grid from the prior, with the same z every epoch so successive grids show the model learning.</summary>
    public static ImageGrid Samples(VariationalAutoencoder model)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var means = model.sample(GridSide * GridSide, new Generator((ulong)Evaluation.EvaluationSeed));
        return ToGrid(means, GridSide, GridSide);
    }

    /// <summary>Rows alternate: 10 test digits, then their reconstructions (posterior mean), four pairs of rows.</summary>
    public static ImageGrid Reconstructions(VariationalAutoencoder model, ImageSet test, int pairs = 4)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        int count = (int)Math.Min(pairs * GridSide, test.Count) / GridSide * GridSide;
        var originals = test.Images.narrow(0, 0, count);
        var reconstructions = model.reconstruct(originals);
        var interleaved = stack([originals.view(-1, GridSide, 784), reconstructions.view(-1, GridSide, 784)], 1).view(-1, 784);
        return ToGrid(interleaved, 2 * count / GridSide, GridSide);
    }

    /// <summary>[rows·cols, 784] intensities in [0, 1] → raw 8-bit pixels.</summary>
    public static ImageGrid ToGrid(Tensor images, int rows, int cols)
    {
        using var bytes = images.mul(255).round_().clamp_(0, 255).to(ScalarType.Byte).contiguous();
        return new ImageGrid(rows, cols, 28, 28, bytes.data<byte>().ToArray());
    }
}
