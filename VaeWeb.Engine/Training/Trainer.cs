using System.Diagnostics;
using TorchSharp;
using VaeWeb.Engine.Data;
using VaeWeb.Engine.Models;
using VaeWeb.Engine.Native;
using VaeWeb.Engine.Quality;
using static TorchSharp.torch;

namespace VaeWeb.Engine.Training;

/// <summary>
/// Trains any registered model from a <see cref="RunConfig"/>: the one loop behind the CLI, the web app and workers.
/// It runs the model's stages, each step its updates, and reports; the model says what a step computes.
/// </summary>
public static class Trainer
{
    /// <summary>Step reports per epoch: enough for a smooth live curve, few enough to cost nothing.</summary>
    const int ReportsPerEpoch = 25;
    public const int GridSide = 10;

    /// <summary>
    /// Trains synchronously on the calling thread (run it on a worker thread), reporting through <paramref name="onEvent"/>.
    /// Writes config.json, metrics.jsonl, checkpoints and sample PNGs to <paramref name="outputDirectory"/> when given.
    /// Throws OperationCanceledException when <paramref name="cancellationToken"/> fires or the process starts to exit
    /// (after the current step; the exit waits for it, see <see cref="NativeWork"/>).
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
        using var running = NativeWork.Begin(cancellationToken);          // loading uses libtorch too: see Execute
        onEvent?.Invoke(new StageReport(StageReport.LoadingData));
        TorchRuntime.EnsureInitialized();
        var (train, test) = data.Get(config.Dataset);
        // Sample quality per epoch when the dataset's classifier has been trained (`classifier`).
        using var quality = SampleQuality.TryLoad(data.Directory, config.Dataset);
        return Run(config, train, test, outputDirectory, onEvent, running.Token, quality);
    }

    /// <param name="train">The training set: semi-supervised runs split validation images off it before TrainLimit applies.</param>
    /// <param name="test">The test set; TestLimit applies here.</param>
    /// <param name="quality">Scores every epoch's samples against the test set (see <see cref="SampleQuality"/>); none when null.</param>
    public static TrainingResult Run(RunConfig config, ImageSet train, ImageSet test, string? outputDirectory = null,
        Action<TrainingEvent>? onEvent = null, CancellationToken cancellationToken = default, SampleQuality? quality = null)
    {
        config.ThrowIfInvalid();
        var folder = outputDirectory is null ? null : RunFolder.CreateNew(outputDirectory);
        folder?.WriteConfig(config);
        return Execute(config, train, test, folder, null, onEvent, cancellationToken, quality);
    }

    /// <summary>
    /// Continues the run in <paramref name="outputDirectory"/> to its number of epochs, from the resume state of
    /// <paramref name="epoch"/> (null: the latest; 0: none), with the config saved there. Metrics lines past that
    /// state are dropped first, so every step is written and reported once. With no resume state (the run ended before
    /// the first epoch of its last stage: M1+M2 during pre-training) it starts again from the beginning.
    /// </summary>
    public static TrainingResult Resume(string outputDirectory, DatasetCache data, Action<TrainingEvent>? onEvent = null, int? epoch = null,
        CancellationToken cancellationToken = default)
    {
        using var running = NativeWork.Begin(cancellationToken);          // loading uses libtorch too: see Execute
        using var quality = SampleQuality.TryLoad(data.Directory, RunFolder.Open(outputDirectory).ReadConfig().Dataset);
        return Resume(outputDirectory, config =>
        {
            onEvent?.Invoke(new StageReport(StageReport.LoadingData));
            return data.Get(config.Dataset);
        }, onEvent, epoch, running.Token, quality);
    }

    /// <param name="data">The whole training and test sets of the saved config's dataset (its limits apply here).</param>
    public static TrainingResult Resume(string outputDirectory, Func<RunConfig, (ImageSet Train, ImageSet Test)> data, Action<TrainingEvent>? onEvent = null,
        int? epoch = null, CancellationToken cancellationToken = default, SampleQuality? quality = null)
    {
        var folder = RunFolder.Open(outputDirectory);
        TorchRuntime.EnsureInitialized();
        using var running = NativeWork.Begin(cancellationToken);          // loading uses libtorch too: see Execute
        cancellationToken = running.Token;
        var resume = folder.LoadResumeState(epoch);
        using var tensors = resume?.Tensors;
        var config = resume?.State.Config ?? folder.ReadConfig();
        config.ThrowIfInvalid();
        folder.TruncateMetrics(resume?.State.Step ?? long.MinValue);
        var (train, test) = data(config);
        return Execute(config, train, test, folder, resume, onEvent, cancellationToken, quality);
    }

    static TrainingResult Execute(RunConfig config, ImageSet train, ImageSet test, RunFolder? folder, (ResumeState State, ResumeTensors Tensors)? resume,
        Action<TrainingEvent>? onEvent, CancellationToken cancellationToken, SampleQuality? quality)
    {
        TorchRuntime.EnsureInitialized();
        // Stops when the process starts to exit, which waits for it: exit() destroys libtorch's statics under a run
        // still stepping on another thread (a SIGSEGV in libtorch_cpu.so).
        using var running = NativeWork.Begin(cancellationToken);
        cancellationToken = running.Token;
        var info = ModelRegistry.Get(config.Model);
        void Report(TrainingEvent e)
        {
            TrainingDivergedException.ThrowIfDiverged(e);                    // a test-set NaN too, before JSON chokes on it
            if (e is StepReport or EpochReport) folder?.AppendMetrics(e);
            onEvent?.Invoke(e);
        }
        var clock = Stopwatch.StartNew();
        // The run's own random stream: shuffling, binarization, labeled order, reparameterization and dropout.
        var generator = new Generator((ulong)config.Seed);

        using var testSet = test.Take(config.TestLimit);
        using var split = info.Has(Capability.SemiSupervised)
            ? LabeledSplit.Create(train, config.Split, config.Labels, config.Seed, config.TrainLimit, config.TestLimit)
            : null;
        using var pool = split is null ? train.Take(config.TrainLimit) : null;
        var pixels = split is null
            ? new TrainingData(pool!, null, testSet, null)
            : new TrainingData(split.Pool, split.Validation, testSet, split.LabeledIndices);

        Report(new StageReport(StageReport.BuildingModel));
        using var model = ModelRegistry.Create(config);
        model.Noise = generator;
        // The weights first: a last stage's inputs may be computed by the stages before it (M1+M2: M1's features).
        if (resume is { } saved) foreach (var (name, t) in model.state_dict()) saved.Tensors.CopyTo("model/" + name, t);
        var stages = model.Stages(config, pixels);
        var run = new RunState(config, info, model, generator, clock, resume?.State.Elapsed ?? TimeSpan.Zero, Report, cancellationToken) { Quality = quality };
        // A resumed run is past the stages before the last: a resume state is saved in the last stage only.
        for (int i = resume is null ? 0 : stages.Count - 1; i < stages.Count; i++)
        {
            var stage = stages[i];
            Report(new StageReport(resume is { } r ? $"resuming after epoch {r.State.Epoch}"
                : i < stages.Count - 1 ? $"{StageReport.Pretraining} {stage.Name}" : i == 0 ? StageReport.FirstStep : $"training {config.Model}"));
            var data = stage.Inputs?.Invoke(pixels) ?? pixels;
            try
            {
                if (i < stages.Count - 1) run.PreTrain(stage, data);
                else run.Train(stage, data, testSet, folder, resume);
            }
            finally
            {
                if (!ReferenceEquals(data, pixels)) { data.Pool.Dispose(); data.Validation?.Dispose(); data.Test.Dispose(); }
            }
        }
        return new TrainingResult(config, folder?.Path, run.FinalTest, run.Elapsed);
    }

    /// <summary>One run's loop state: the model, its random stream, the clock and where reports go.</summary>
    /// <param name="elapsedBefore">Training time spent before a resume: time limits count it.</param>
    sealed class RunState(RunConfig config, ModelInfo info, GenerativeModel model, Generator generator, Stopwatch clock,
        TimeSpan elapsedBefore, Action<TrainingEvent> report, CancellationToken cancellationToken)
    {
        public IReadOnlyDictionary<string, double> FinalTest { get; private set; } = new Dictionary<string, double>();
        public SampleQuality? Quality { get; init; }
        /// <summary>Training time, across resumes (not the time the run lay interrupted).</summary>
        public TimeSpan Elapsed => elapsedBefore + clock.Elapsed;
        // The labeled images cycled through, across epochs: semi-supervised runs take a labeled batch every step.
        LabeledStream? labeled;
        // A GAN whose discriminator wins outright for many steps ends the run like a NaN does (see GanCollapse).
        readonly GanCollapse collapse = new();
        // The stage's start on the run's clock and what is left of the time limit then (M1+M2: after M1): for the ETA.
        TimeSpan stageStart;
        double stageBudgetMinutes;

        /// <summary>A stage before the last: step reports only, as epoch 0 with steps counting up to 0.</summary>
        public void PreTrain(Stage stage, TrainingData data)
        {
            long total = StepsPerEpoch(data) * stage.Epochs;
            long step = -total;
            (stageStart, stageBudgetMinutes) = (Elapsed, 0);
            using var updater = new Updater(stage.Updates);
            for (int epoch = 1; epoch <= stage.Epochs; epoch++)
                RunEpoch(stage, updater, data, 0, ref step, total, stage.Name + "-");
        }

        /// <summary>
        /// The last stage: every epoch evaluated, drawn and checkpointed (for semi-supervised runs, the best validation
        /// epoch), then its resume state saved; from the epoch after <paramref name="resume"/>'s when given.
        /// </summary>
        public void Train(Stage stage, TrainingData data, ImageSet pixelTest, RunFolder? folder, (ResumeState State, ResumeTensors Tensors)? resume)
        {
            long step = 0, total = StepsPerEpoch(data) * stage.Epochs;
            double bestValidation = double.PositiveInfinity;
            int first = 1;
            stageStart = Elapsed;
            var evaluate = stage.Evaluate ?? throw new InvalidOperationException($"The last stage of {config.Model} has no evaluation.");
            using var updater = new Updater(stage.Updates);
            if (resume is { State: var saved, Tensors: var tensors })
            {
                (first, step, bestValidation, stageStart, FinalTest) = (saved.Epoch + 1, saved.Step, saved.BestValidation ?? double.PositiveInfinity, saved.StageStart, saved.FinalTest);
                Restore(saved, tensors, updater, data);
                if (saved.Finished) return;
            }
            stageBudgetMinutes = config.MaxMinutes > 0 ? Math.Max(1e-9, config.MaxMinutes - stageStart.TotalMinutes) : 0;
            for (int epoch = first; epoch <= stage.Epochs; epoch++)
            {
                var epochClock = Stopwatch.StartNew();
                var train = RunEpoch(stage, updater, data, epoch, ref step, total, "");
                var trainSeconds = epochClock.Elapsed.TotalSeconds;
                model.eval();
                var test = evaluate(data.Test);
                if (Quality is not null)
                    foreach (var (name, value) in Quality.Measure(model, info, pixelTest)) test[name] = value;
                var validation = data.Validation is null ? null : evaluate(data.Validation);
                report(new EpochReport(epoch, config.Epochs, step, train, test, epochClock.Elapsed, data.Pool.Count / trainSeconds) { Validation = validation });

                var images = new EpochImages(epoch, Samples(model, info), Reconstructions(model, info, pixelTest));
                folder?.WriteSamples(epoch, images.Samples);
                report(images);
                // With a validation set, keep the checkpoint with the lowest validation error (ties keep the earlier one).
                bool keep = validation is null || validation[Metrics.Error] < bestValidation;
                if (keep)
                {
                    if (validation is not null) bestValidation = validation[Metrics.Error];
                    if (folder is not null)
                    {
                        folder.SaveCheckpoint(model, config, epoch);
                        report(new CheckpointSaved(epoch, folder.ModelFile));
                    }
                    var final = new Dictionary<string, double>(test) { ["best-epoch"] = epoch };
                    if (validation is not null) final["validation-" + Metrics.Error] = bestValidation;
                    FinalTest = final;
                }
                bool atLimit = config.MaxMinutes > 0 && Elapsed.TotalMinutes >= config.MaxMinutes;
                // Last, so that an epoch counts as done only once all of it is on disk: a kill before this redoes it.
                if (folder is not null) SaveResumeState(folder, updater, epoch, step, bestValidation, finished: atLimit || epoch == stage.Epochs);
                if (atLimit) break;
            }
        }

        void SaveResumeState(RunFolder folder, Updater updater, int epoch, long step, double bestValidation, bool finished)
        {
            using var tensors = new ResumeTensors();
            foreach (var (name, t) in model.state_dict()) tensors.Add("model/" + name, t);
            using var random = generator.get_state();
            tensors.Add("generator", random);
            var optimizerSteps = updater.SaveTo(tensors);
            var labeledPosition = labeled?.SaveTo(tensors) ?? 0;
            folder.SaveResumeState(new ResumeState(epoch, step, finished, double.IsFinite(bestValidation) ? bestValidation : null, FinalTest,
                Elapsed, stageStart, labeledPosition, optimizerSteps, config), tensors);
            report(new EpochSaved(epoch, step));
        }

        /// <summary>Everything but the weights (loaded with the model): the optimizers, the random stream, the labeled images' order.</summary>
        void Restore(ResumeState saved, ResumeTensors tensors, Updater updater, TrainingData data)
        {
            updater.RestoreFrom(tensors, saved.OptimizerSteps);
            generator.set_state(tensors["generator"]);
            if (tensors.Contains(LabeledStream.OrderName))
                labeled = new LabeledStream(data.LabeledIndices!, generator, tensors[LabeledStream.OrderName], saved.LabeledPosition);
        }

        /// <summary>The share of the last stage's budget spent before step <paramref name="step"/>: of its minutes when the run has a time limit, else of its steps.</summary>
        double BudgetUsed(long step, long totalSteps) => stageBudgetMinutes > 0
            ? (Elapsed - stageStart).TotalMinutes / stageBudgetMinutes
            : (double)step / totalSteps;

        long StepsPerEpoch(TrainingData data) => (data.Pool.Count + config.BatchSize - 1) / config.BatchSize;

        /// <summary>One pass over the pool; returns the epoch's mean of every loss term per image.</summary>
        Dictionary<string, double> RunEpoch(Stage stage, Updater updater, TrainingData data, int epoch, ref long step, long totalSteps, string prefix)
        {
            model.train();
            var pool = data.Pool;
            long n = pool.Count, reportEvery = Math.Max(1, StepsPerEpoch(data) / ReportsPerEpoch);
            var epochSums = new Dictionary<string, double>();
            var windowSums = new Dictionary<string, double>();
            long windowImages = 0;
            var windowClock = Stopwatch.StartNew();
            bool binarize = stage.Binarize && config.Binarize == Binarization.Dynamic;
            Tensor Prepare(Tensor x) => binarize ? Evaluation.Binarize(x, Binarization.Dynamic, generator) : x;
            bool semi = stage.UsesLabels && data.LabeledIndices is not null, fullyLabeled = semi && data.LabeledCount == n;
            bool labels = stage.UsesLabels && info.Has(Capability.Conditional) && data.LabeledIndices is null;
            labeled ??= semi ? new LabeledStream(data.LabeledIndices!, generator) : null;
            using var order = randperm(n, generator: generator);
            for (long start = 0; start < n; start += config.BatchSize)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var size = Math.Min(config.BatchSize, n - start);
                using (NewDisposeScope())
                {
                    Batch batch;
                    if (fullyLabeled)
                    {
                        var rows = labeled!.Next((int)size);
                        batch = new Batch(null, null, Prepare(pool.Images.index_select(0, rows)), pool.Labels.index_select(0, rows));
                    }
                    else
                    {
                        // Semi-supervised: one unlabeled batch (labels unseen) and one labeled batch per step, the
                        // labeled images cycled through in a fresh order each time they run out.
                        var rows = order.narrow(0, start, size);
                        var x = Prepare(pool.Images.index_select(0, rows));
                        var labeledRows = labeled?.Next(config.LabeledBatchSize(data.LabeledCount, n));
                        batch = labeledRows is null
                            ? new Batch(x, labels ? pool.Labels.index_select(0, rows) : null)
                            : new Batch(x, null, Prepare(pool.Images.index_select(0, labeledRows)), pool.Labels.index_select(0, labeledRows));
                    }
                    if (config.DecayLearningRate && epoch > 0) updater.ScaleLearningRates(Math.Max(0, 1 - BudgetUsed(step, totalSteps)));
                    var terms = updater.Step(batch);
                    foreach (var (name, value) in terms)
                    {
                        // Every step's terms are on the host already: a NaN ends the run at the step it appears.
                        if (!double.IsFinite(value))
                            throw new TrainingDivergedException(TrainingDivergedException.AtStep(step + 1, epoch, prefix + name, value, stage.Name));
                        epochSums[prefix + name] = epochSums.GetValueOrDefault(prefix + name) + value * size;
                        windowSums[prefix + name] = windowSums.GetValueOrDefault(prefix + name) + value * size;
                    }
                    // So does a GAN that has collapsed with finite losses; the last completed epoch's checkpoint stays.
                    if (collapse.Observe(step + 1, epoch, terms) is { } collapsed) throw new TrainingDivergedException(collapsed);
                }
                windowImages += size;
                step++;
                // Step 1 too: a watcher sees the first loss as soon as it exists.
                long done = epoch == 0 ? step + totalSteps : step;                // a stage before the last counts up to 0
                if (done == 1 || step % reportEvery == 0 || start + config.BatchSize >= n)
                {
                    var elapsed = Elapsed;
                    var (eta, atLimit) = StepReport.EstimateEta(elapsed - stageStart, done, totalSteps, epoch == 0 ? stage.Epochs : config.Epochs, stageBudgetMinutes);
                    report(new StepReport(epoch, step, totalSteps, windowSums.ToDictionary(kv => kv.Key, kv => kv.Value / windowImages),
                        windowImages / windowClock.Elapsed.TotalSeconds, elapsed, eta) { StopsAtTimeLimit = atLimit });
                    windowSums.Clear(); windowImages = 0; windowClock.Restart();
                }
            }
            return epochSums.ToDictionary(kv => kv.Key, kv => kv.Value / n);
        }
    }

    /// <summary>
    /// The updates of one step, each with its own Adam: forward, backward and step, one network after the other, so a
    /// GAN's discriminator update comes before its generator's. Shared with `bench`, so it measures what `train` runs.
    /// </summary>
    public sealed class Updater(IReadOnlyList<Update> updates) : IDisposable
    {
        readonly (Update Update, FusedAdam Optimizer)[] _updates =
            [.. updates.Select(u => (u, new FusedAdam(u.Parameters, u.LearningRate, u.Beta1, eps: u.Epsilon)))];

        /// <summary>Runs every update on the batch; returns each loss term's value (nats per image).</summary>
        public List<(string Name, double Value)> Step(Batch batch)
        {
            var terms = new List<(string, double)>();
            foreach (var (update, optimizer) in _updates)
            {
                using var scope = NewDisposeScope();
                var loss = update.Loss(batch);
                if (update.Active?.Invoke() != false)
                {
                    optimizer.zero_grad();
                    loss.Objective.backward();
                    optimizer.step();
                }
                foreach (var (name, value) in loss.Terms) terms.Add((name, value.item<float>()));
            }
            return terms;
        }

        /// <summary>Scales every optimizer's learning rate (1: as configured).</summary>
        public void ScaleLearningRates(double scale)
        {
            foreach (var (_, optimizer) in _updates) optimizer.LearningRateScale = scale;
        }

        /// <summary>Adds each optimizer's moments to <paramref name="state"/> ("adam0/…", "adam1/…"); returns their step counts.</summary>
        public long[] SaveTo(ResumeTensors state) => [.. _updates.Select((u, k) => u.Optimizer.SaveTo(state, $"adam{k}/"))];

        public void RestoreFrom(ResumeTensors state, long[] steps)
        {
            if (steps.Length != _updates.Length) throw new InvalidDataException($"The resume state has {steps.Length} optimizers, the run {_updates.Length}.");
            for (int k = 0; k < _updates.Length; k++) _updates[k].Optimizer.RestoreFrom(state, $"adam{k}/", steps[k]);
        }

        public void Dispose()
        {
            foreach (var (_, optimizer) in _updates) optimizer.Dispose();
        }
    }

    /// <summary>
    /// A 10x10 grid from the prior, with the same z every epoch so successive grids show the model learning. Conditional
    /// models: row y is class y, and column j shares one z, so a column shows one style drawn as every digit.
    /// </summary>
    public static ImageGrid Samples(GenerativeModel model, ModelInfo info, double temperature = 1.0, long seed = Evaluation.EvaluationSeed)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var (z, labels) = SampleLatents(model, info, temperature, seed);
        return ToGrid(model.Decode(z, labels), GridSide, GridSide, model.Image);
    }

    /// <summary>
    /// The z [100, Latent] (and labels) of <see cref="Samples"/>, from the prior with its standard deviation scaled by
    /// the temperature: the grid and its drawing in steps (<see cref="GenerativeModel.Frames"/>) start from the same draws.
    /// </summary>
    public static (Tensor Z, Tensor? Labels) SampleLatents(GenerativeModel model, ModelInfo info, double temperature, long seed)
    {
        using var generator = new Generator((ulong)seed);
        using var t = temperature.ToScalar();                                // disposed after use, not finalized mid-call (see Scalars)
        if (!info.Has(Capability.Conditional))
            return (model.Prior(randn(new long[] { GridSide * GridSide, model.Latent }, generator: generator).mul_(t), null), null);
        var labels = Scalars.Range(GridSide).repeat_interleave(GridSide);    // [100]: 0×10, 1×10, …
        var z = randn(new long[] { GridSide, model.Latent }, generator: generator).mul_(t).repeat(GridSide, 1);
        return (model.Prior(z, labels), labels);
    }

    /// <summary>
    /// Rows alternate: 10 test digits, then their reconstructions through the posterior mean, four pairs of rows. The
    /// label of a conditional model is the classifier's guess when it has one (it sees no test labels), else the true one.
    /// </summary>
    public static ImageGrid Reconstructions(GenerativeModel model, ModelInfo info, ImageSet test, int pairs = 4)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        int count = (int)Math.Min(pairs * GridSide, test.Count) / GridSide * GridSide;
        var x = test.Images.narrow(0, 0, count);
        var labels = !info.Has(Capability.Conditional) ? null
            : info.Has(Capability.Classifier) ? model.Classify(x).argmax(1) : test.Labels.narrow(0, 0, count);
        var reconstructions = model.Reconstruct(x, labels);
        long d = model.Image.Pixels;
        var interleaved = stack([x.view(-1, GridSide, d), reconstructions.view(-1, GridSide, d)], 1).view(-1, d);
        return ToGrid(interleaved, 2 * count / GridSide, GridSide, model.Image);
    }

    /// <summary>
    /// [rows·cols, D] intensities in [0, 1] → raw 8-bit pixels, channel-planar per image for colour. The shape: given,
    /// or the dataset shape of D values (784: 28×28 grey; 3072: 32×32×3).
    /// </summary>
    public static ImageGrid ToGrid(Tensor images, int rows, int cols, ImageShape? shape = null)
    {
        shape ??= ImageShape.Of(images.shape[^1]);
        using var bytes = images.mul(Scalars.Of(255)).round_().clamp_(Scalars.Of(0), Scalars.Of(255)).to(ScalarType.Byte).contiguous();
        return new ImageGrid(rows, cols, shape.Height, shape.Width, bytes.data<byte>().ToArray());
    }

    /// <summary>Cycles through the labeled indices, reshuffled on every pass; a resumed run continues the pass it was in.</summary>
    sealed class LabeledStream(Tensor indices, Generator generator, Tensor? order = null, long position = long.MaxValue)
    {
        public const string OrderName = "labeled";
        long _position = position;
        Tensor? _order = order?.clone().DetachFromDisposeScope();

        /// <summary>Adds the current pass's order to <paramref name="state"/>; returns the position in it.</summary>
        public long SaveTo(ResumeTensors state)
        {
            if (_order is not null) state.Add(OrderName, _order);
            return _position;
        }

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
