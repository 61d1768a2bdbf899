using System.Diagnostics;
using VaeWeb.Engine.Data;
using VaeWeb.Engine.Models;
using static TorchSharp.torch;
using Module = TorchSharp.torch.nn.Module;

namespace VaeWeb.Engine.Training;

/// <summary>
/// Trains the models that know about labels: the CVAE on every label, M2 and M1+M2 on a few labels and many unlabeled
/// images (Kingma et al. 2014). Semi-supervised runs score validation and test error every epoch and keep the
/// checkpoint with the lowest validation error. Reports the same events as <see cref="Trainer"/>.
/// </summary>
public static class ConditionalTrainer
{
    const int ReportsPerEpoch = 25;

    /// <param name="train">The whole training set: validation images are split off it before TrainLimit applies.</param>
    /// <param name="test">The whole test set; TestLimit applies here.</param>
    public static TrainingResult Run(RunConfig config, ImageSet train, ImageSet fullTest, string? outputDirectory,
        Action<TrainingEvent>? onEvent, CancellationToken cancellationToken)
    {
        using var test = fullTest.Take(config.TestLimit);
        var folder = outputDirectory is null ? null : new RunFolder(outputDirectory);
        void Report(TrainingEvent e)
        {
            TrainingDivergedException.ThrowIfDiverged(e);                    // at the step it happens, before JSON chokes on NaN
            if (e is StepReport or EpochReport) folder?.AppendMetrics(e);
            onEvent?.Invoke(e);
        }
        folder?.WriteConfig(config);
        var clock = Stopwatch.StartNew();
        var generator = new Generator((ulong)config.Seed);                  // shuffling, binarization, label choice order, z noise

        // CVAE: every training image is labeled and there is no validation set to select on.
        using var split = config.IsSemiSupervised
            ? LabeledSplit.Create(train, config.Split, config.Labels, config.Seed, config.TrainLimit, config.TestLimit)
            : new LabeledSplit { Pool = train.Take(config.TrainLimit), Validation = test.Take(0), LabeledIndices = arange(train.Take(config.TrainLimit).Count) };
        Report(new StageReport(StageReport.BuildingModel));
        using var model = ModelFactory.CreateModule(config);
        double alpha = config.Alpha > 0 ? config.Alpha : 0.1 * split.Pool.Count / split.LabeledCount;

        // What the model learns from: pixels, or for M1+M2 the features of an M1 trained here first.
        ImageSet pool = split.Pool, validation = split.Validation, evaluation = test;
        bool binarize = config.Binarize == Binarization.Dynamic;
        if (model is M1M2 stacked)
        {
            Report(new StageReport(StageReport.PretrainingM1));
            TrainM1(stacked.M1, config, split.Pool, generator, Report, cancellationToken);
            pool = Features(stacked, split.Pool);
            // Standardized with the pool's statistics: M1's inactive units have means near zero with tiny spread,
            // and a Gaussian p(z1|y,z2) fitted to those would dominate the bound with huge densities.
            using (no_grad())
            {
                stacked.FeatureMean.copy_(pool.Images.mean([0]));
                stacked.FeatureScale.copy_(pool.Images.std(0).clamp_min_(1e-3));
                pool.Images.sub_(stacked.FeatureMean).div_(stacked.FeatureScale);   // the features just computed, now standardized
            }
            validation = Features(stacked, split.Validation);
            evaluation = Features(stacked, test);
            binarize = false;                                                // M2 models real-valued z1 with a Gaussian
        }
        var (cvae, classify) = model switch
        {
            Cvae c => (c, (Func<Tensor, Tensor>?)null),
            M2 m => (m.Generative, m.classify),
            M1M2 s => (s.M2.Generative, s.M2.classify),
            _ => throw new InvalidOperationException($"{model.GetType().Name} is not a conditional model."),
        };
        cvae.Noise = generator;
        var semi = model switch { M2 m => m, M1M2 s => s.M2, _ => null };
        var parameters = model is M1M2 s2 ? s2.M2.parameters() : model.parameters();   // M1 is frozen once trained
        using var optimizer = new FusedAdam(parameters, config.LearningRate);

        long n = pool.Count, stepsPerEpoch = (n + config.BatchSize - 1) / config.BatchSize;
        long totalSteps = stepsPerEpoch * config.Epochs, step = 0;
        long reportEvery = Math.Max(1, stepsPerEpoch / ReportsPerEpoch);
        var testMetrics = new Dictionary<string, double>();
        double bestValidation = double.PositiveInfinity;
        Dictionary<string, double> bestTest = [];
        var labeledStream = new LabeledStream(split.LabeledIndices, generator);
        bool fullyLabeled = split.LabeledCount == pool.Count;
        Tensor Prepare(Tensor x) => binarize ? Evaluation.Binarize(x, Binarization.Dynamic, generator) : x;
        // M1+M2's budget includes M1's pre-training; the M2 steps' rate does not.
        var loopStart = clock.Elapsed;
        double loopMinutes = config.MaxMinutes > 0 ? Math.Max(1e-9, config.MaxMinutes - loopStart.TotalMinutes) : 0;
        Report(new StageReport(StageReport.FirstStep));

        for (int epoch = 1; epoch <= config.Epochs; epoch++)
        {
            model.train();
            var epochClock = Stopwatch.StartNew();
            var epochSums = new Dictionary<string, double>();
            var windowSums = new Dictionary<string, double>();
            long windowImages = 0;
            var windowClock = Stopwatch.StartNew();
            using var order = randperm(n, generator: generator);
            for (long start = 0; start < n; start += config.BatchSize)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var size = Math.Min(config.BatchSize, n - start);
                using (NewDisposeScope())
                {
                    Dictionary<string, Tensor> parts;
                    Tensor loss;
                    if (semi is not null && fullyLabeled)
                    {
                        // Every image labeled: there is no unlabeled term, only the labeled bound and α·(−log q(y|x)).
                        var rows = labeledStream.Next((int)size);
                        var x = Prepare(pool.Images.index_select(0, rows));
                        var labels = pool.Labels.index_select(0, rows);
                        var labeled = semi.NegativeLabeledBound(x, labels).mean();
                        var classification = nn.functional.cross_entropy(semi.classify(x), labels);
                        loss = labeled + alpha * classification;
                        parts = new() { [Metrics.Labeled] = labeled, [Metrics.Classification] = classification };
                    }
                    else if (semi is null)
                    {
                        // CVAE: the labeled bound on a batch of the (fully labeled) pool.
                        var rows = order.narrow(0, start, size);
                        var x = Prepare(pool.Images.index_select(0, rows));
                        var (rec, kl) = cvae.Terms(x, pool.Labels.index_select(0, rows));
                        loss = (rec + kl).mean();
                        parts = new() { [Metrics.Reconstruction] = rec.mean(), [Metrics.Kl] = kl.mean(), [Metrics.Elbo] = -loss };
                    }
                    else
                    {
                        // M2: one unlabeled batch (labels ignored) and one labeled batch per step, the labeled set
                        // cycled through in a fresh order each time it runs out.
                        var xUnlabeled = Prepare(pool.Images.index_select(0, order.narrow(0, start, size)));
                        var labeledRows = labeledStream.Next(config.BatchSize);
                        var xLabeled = Prepare(pool.Images.index_select(0, labeledRows));
                        var (total, labeled, unlabeled, classification) = semi.Loss(xLabeled, pool.Labels.index_select(0, labeledRows), xUnlabeled, alpha);
                        loss = total;
                        parts = new() { [Metrics.Labeled] = labeled, [Metrics.Unlabeled] = unlabeled, [Metrics.Classification] = classification };
                    }
                    optimizer.zero_grad();
                    loss.backward();
                    optimizer.step();
                    foreach (var (name, value) in parts)
                    {
                        double v = value.item<float>() * size;
                        epochSums[name] = epochSums.GetValueOrDefault(name) + v;
                        windowSums[name] = windowSums.GetValueOrDefault(name) + v;
                    }
                }
                windowImages += size;
                step++;
                if (step == 1 || step % reportEvery == 0 || start + config.BatchSize >= n)
                {
                    var elapsed = clock.Elapsed;
                    var (eta, atLimit) = StepReport.EstimateEta(elapsed - loopStart, step, totalSteps, config.Epochs, loopMinutes);
                    Report(new StepReport(epoch, step, totalSteps, windowSums.ToDictionary(kv => kv.Key, kv => kv.Value / windowImages),
                        windowImages / windowClock.Elapsed.TotalSeconds, elapsed, eta) { StopsAtTimeLimit = atLimit });
                    windowSums.Clear(); windowImages = 0; windowClock.Restart();
                }
            }
            var trainSeconds = epochClock.Elapsed.TotalSeconds;
            model.eval();
            Dictionary<string, double>? validationMetrics = null;
            if (classify is not null)
            {
                validationMetrics = new() { [Metrics.Error] = Evaluation.ErrorPercent(classify, validation) };
                testMetrics = new() { [Metrics.Error] = Evaluation.ErrorPercent(classify, evaluation) };
            }
            else testMetrics = ConditionalElbo(cvae, evaluation, config.Binarize);
            Report(new EpochReport(epoch, config.Epochs, step, epochSums.ToDictionary(kv => kv.Key, kv => kv.Value / n), testMetrics,
                epochClock.Elapsed, n / trainSeconds) { Validation = validationMetrics });

            var images = new EpochImages(epoch, ClassGrid(model), Reconstructions(model, test, classify is null ? null : x => classify(model is M1M2 m ? m.features(x) : x)));
            folder?.WriteSamples(epoch, images.Samples);
            Report(images);
            // Semi-supervised: keep the checkpoint with the best validation error (ties keep the earlier one).
            bool keep = validationMetrics is null || validationMetrics[Metrics.Error] < bestValidation;
            if (keep && validationMetrics is not null) bestValidation = validationMetrics[Metrics.Error];
            if (keep && folder is not null)
            {
                folder.SaveCheckpoint(model, config, epoch);
                Report(new CheckpointSaved(epoch, folder.ModelFile));
            }
            if (keep) bestTest = new(testMetrics) { ["best-epoch"] = epoch };
            if (config.MaxMinutes > 0 && clock.Elapsed.TotalMinutes >= config.MaxMinutes) break;
        }
        if (model is M1M2) { pool.Dispose(); validation.Dispose(); evaluation.Dispose(); }
        return new TrainingResult(config, folder?.Path, Best(bestTest, bestValidation), clock.Elapsed);
    }

    static IReadOnlyDictionary<string, double> Best(Dictionary<string, double> last, double bestValidation) =>
        double.IsPositiveInfinity(bestValidation) ? last : new Dictionary<string, double>(last) { ["validation-" + Metrics.Error] = bestValidation };

    /// <summary>M1+M2, stage one: M1 learns the pixels of every pool image, labels unused (reported as epoch 0, steps ≤ 0).</summary>
    static void TrainM1(Vae m1, RunConfig config, ImageSet pool, Generator generator, Action<TrainingEvent> report, CancellationToken cancellationToken)
    {
        m1.Noise = generator;
        using var step = new ElboStep(m1, config, generator);
        long n = pool.Count, stepsPerEpoch = (n + config.BatchSize - 1) / config.BatchSize, total = stepsPerEpoch * config.M1Epochs, done = 0;
        var clock = Stopwatch.StartNew();
        for (int epoch = 1; epoch <= config.M1Epochs; epoch++)
        {
            double rec = 0, kl = 0;
            using var order = randperm(n, generator: generator);
            for (long start = 0; start < n; start += config.BatchSize)
            {
                cancellationToken.ThrowIfCancellationRequested();
                using (NewDisposeScope())
                {
                    var (r, k) = step.Step(pool.Images.index_select(0, order.narrow(0, start, Math.Min(config.BatchSize, n - start))));
                    rec += r; kl += k;
                }
                done++;
            }
            var elapsed = clock.Elapsed;
            // Steps count up to 0 during M1 (−total … 0), so M2's steps 1, 2, … follow them on one axis.
            report(new StepReport(0, done - total, total, new Dictionary<string, double> { ["m1-" + Metrics.Elbo] = -(rec + kl) / n },
                n * epoch / elapsed.TotalSeconds, elapsed, elapsed / done * (total - done)));
        }
        m1.eval();
        foreach (var p in m1.parameters()) p.requires_grad = false;
    }

    /// <summary>A set of M1 features: the posterior means of its grey-level images, [N, M1 latent].</summary>
    static ImageSet Features(M1M2 model, ImageSet set)
    {
        using var _ = no_grad();
        var batches = new List<Tensor>();
        for (long start = 0; start < set.Count; start += 1000)
            batches.Add(model.features(set.Images.narrow(0, start, Math.Min(1000, set.Count - start))));
        var features = cat(batches, 0);
        foreach (var b in batches) b.Dispose();
        return new ImageSet(set.Name + " M1 features", features, set.Labels.alias(), 1, 1, (int)features.shape[1]);
    }

    /// <summary>CVAE test bound log p(x|y) ≥ ELBO per image, with its two terms; fixed evaluation noise.</summary>
    static Dictionary<string, double> ConditionalElbo(Cvae model, ImageSet set, Binarization binarize)
    {
        using var _ = no_grad();
        var generator = new Generator((ulong)Evaluation.EvaluationSeed);
        double reconstruction = 0, kl = 0;
        for (long start = 0; start < set.Count; start += 1000)
        {
            using var scope = NewDisposeScope();
            var size = Math.Min(1000, set.Count - start);
            var x = Evaluation.Binarize(set.Images.narrow(0, start, size), binarize, generator);
            var noise = randn(new long[] { size, model.Latent }, generator: generator);
            var (rec, klTerm) = model.Terms(x, set.Labels.narrow(0, start, size), noise);
            reconstruction += rec.sum().item<float>();
            kl += klTerm.sum().item<float>();
        }
        return Metrics.Losses(reconstruction / set.Count, kl / set.Count);
    }

    /// <summary>
    /// 10x10 samples: row y is class y, column j shares one z ~ N(0, I) (the same every epoch), so a column shows one
    /// style drawn as every digit.
    /// </summary>
    public static ImageGrid ClassGrid(Module model)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        const int side = Trainer.GridSide;
        var labels = arange(side).repeat_interleave(side);                   // [100]: 0×10, 1×10, …
        var latent = model switch { Cvae c => c.Latent, M2 m => m.Latent, M1M2 s => s.M2.Latent, _ => throw new ArgumentException(model.GetType().Name) };
        var z = randn(new long[] { side, latent }, generator: new Generator((ulong)Evaluation.EvaluationSeed)).repeat(side, 1);
        var images = model switch
        {
            Cvae c => c.decodeMean(c.PriorSample(z, labels), labels),
            M2 m => m.Generative.decodeMean(z, labels),
            M1M2 s => s.decode(z, labels),
            _ => throw new ArgumentException(model.GetType().Name),
        };
        return Trainer.ToGrid(images, side, side);
    }

    /// <summary>
    /// Test digits and their reconstructions through q(z|x,y) and p(x|y,z), four pairs of rows; y is the true label for
    /// the CVAE and the classifier's guess for semi-supervised models (which see no test labels).
    /// </summary>
    static ImageGrid Reconstructions(Module model, ImageSet test, Func<Tensor, Tensor>? classify, int pairs = 4)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        const int side = Trainer.GridSide;
        int count = (int)Math.Min(pairs * side, test.Count) / side * side;
        var x = test.Images.narrow(0, 0, count);
        var labels = classify is null ? test.Labels.narrow(0, 0, count) : classify(x).argmax(1);
        var reconstructions = model switch
        {
            Cvae c => c.Restyle(x, labels, labels),
            M2 m => m.Generative.Restyle(x, labels, labels),
            M1M2 s => s.decodeFeatures(s.M2.Generative.Restyle(s.features(x), labels, labels)),
            _ => throw new ArgumentException(model.GetType().Name),
        };
        var interleaved = stack([x.view(-1, side, 784), reconstructions.view(-1, side, 784)], 1).view(-1, 784);
        return Trainer.ToGrid(interleaved, 2 * count / side, side);
    }

    /// <summary>Cycles through the labeled indices, reshuffled on every pass.</summary>
    sealed class LabeledStream(Tensor indices, Generator generator)
    {
        long _position = long.MaxValue;
        Tensor? _order;

        public Tensor Next(int count)
        {
            var pieces = new List<Tensor>();
            long n = indices.shape[0];
            while (count > 0)
            {
                if (_position >= n)
                {
                    _order?.Dispose();
                    using var permutation = randperm(n, generator: generator);
                    _order = indices.index_select(0, permutation).DetachFromDisposeScope();   // lives across steps
                    _position = 0;
                }
                var take = (int)Math.Min(count, n - _position);
                pieces.Add(_order!.narrow(0, _position, take));
                _position += take;
                count -= take;
            }
            return pieces.Count == 1 ? pieces[0] : cat(pieces, 0);
        }
    }
}
