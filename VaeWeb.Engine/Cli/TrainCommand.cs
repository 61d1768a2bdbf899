using System.CommandLine;
using Spectre.Console;
using VaeWeb.Engine.Data;
using VaeWeb.Engine.Models;
using VaeWeb.Engine.Training;

namespace VaeWeb.Engine.Cli;

static class TrainCommand
{
    public static Command Create()
    {
        var defaults = new RunConfig();
        var model = new Option<string>("--model")
        {
            HelpName = string.Join("|", ModelRegistry.All.Select(m => m.Name)), Description = "Model to train.", DefaultValueFactory = _ => defaults.Model,
        };
        model.Validators.Add(r =>
        {
            if (ModelRegistry.Find(r.GetValueOrDefault<string>()) is null)
                r.AddError($"Unknown model '{r.GetValueOrDefault<string>()}'. Use one of: {string.Join(", ", ModelRegistry.All.Select(m => m.Name))}.");
        });
        var arch = new Option<Architecture>("--arch") { HelpName = "fc|conv", Description = "fc (fully connected, 784-500-500-z) or conv (convolutional).", DefaultValueFactory = _ => defaults.Arch };
        var dataset = new Option<string>("--dataset") { Description = $"One of: {string.Join(", ", Datasets.Names)}.", DefaultValueFactory = _ => defaults.Dataset };
        var latent = new Option<int>("--latent") { Description = "Size of the latent z.", DefaultValueFactory = _ => defaults.Latent };
        var hidden = new Option<int[]>("--hidden") { Description = "Hidden layer widths of the FC networks, e.g. --hidden 500 500.", DefaultValueFactory = _ => defaults.Hidden, AllowMultipleArgumentsPerToken = true };
        var epochs = new Option<int>("--epochs") { Description = "Passes over the training set.", DefaultValueFactory = _ => defaults.Epochs };
        var batch = new Option<int>("--batch") { Description = "Images per step.", DefaultValueFactory = _ => defaults.BatchSize };
        var lr = new Option<double>("--lr") { Description = "Adam learning rate.", DefaultValueFactory = _ => defaults.LearningRate };
        var seed = new Option<long>("--seed") { Description = "Seed of initialization, shuffling and binarization: the same seed gives the same run.", DefaultValueFactory = _ => defaults.Seed };
        var binarize = new Option<Binarization>("--binarize") { HelpName = "dynamic|none", Description = "dynamic: resample binary pixels every step (the MNIST benchmark); none: grey levels as BCE targets.", DefaultValueFactory = _ => defaults.Binarize };
        var trainLimit = new Option<int>("--train-limit") { Description = "Train on the first N images only (0 = all)." };
        var testLimit = new Option<int>("--test-limit") { Description = "Evaluate on the first N test images only (0 = all)." };
        var labels = new Option<int>("--labels") { Description = "Semi-supervised models (M2, M1+M2, SSL-GAN): labeled training images, balanced over classes (0 = all).", DefaultValueFactory = _ => defaults.Labels };
        var split = new Option<ValidationSplit>("--split") { HelpName = "poster|kingma", Description = "Semi-supervised models: 55,000/5,000 (poster) or 50,000/10,000 (kingma) training/validation images.", DefaultValueFactory = _ => defaults.Split };
        var balance = new Option<LabelBalance>("--balance") { HelpName = "oversampled|paper", Description = "M2, M1+M2: paper: equation 9's weights, labeled batch in proportion to the labels; oversampled: a full labeled batch every step, both batch means weighted 1.", DefaultValueFactory = _ => defaults.Balance };
        var alpha = new Option<double>("--alpha") { Description = "M2, M1+M2: weight of the labeled classification loss (0 = 0.1·N/N_labeled, equation 9's balance)." };
        var learnedPrior = new Option<bool>("--learned-prior") { Description = "CVAE: learn a Gaussian p(z|y) per class instead of N(0, I)." };
        var m1Epochs = new Option<int>("--m1-epochs") { Description = "M1+M2: epochs of M1 before M2 trains on its features.", DefaultValueFactory = _ => defaults.M1Epochs };
        var drawSteps = new Option<int>("--draw-steps") { Description = "DRAW: steps T, each adding to the canvas (the paper's MNIST model: 64).", DefaultValueFactory = _ => defaults.DrawSteps };
        var noAttention = new Option<bool>("--no-attention") { Description = "DRAW: read the whole image and write the whole canvas (no Gaussian filterbanks)." };
        var readSize = new Option<int>("--read-size") { Description = "DRAW: the read glimpse is N×N (paper: 2).", DefaultValueFactory = _ => defaults.ReadSize };
        var writeSize = new Option<int>("--write-size") { Description = "DRAW: the write patch is N×N (paper: 5).", DefaultValueFactory = _ => defaults.WriteSize };
        var gamma = new Option<double>("--gamma") { Description = "VAE-GAN: weight of the feature-space reconstruction error against the GAN loss in the decoder's update.", DefaultValueFactory = _ => defaults.Gamma };
        var adversarialWeight = new Option<double>("--adversarial-weight") { Description = "DRAW-GAN: weight λ of the GAN loss on DRAW's final canvas against its negative ELBO.", DefaultValueFactory = _ => defaults.AdversarialWeight };
        var judgeReconstructions = new Option<bool>("--judge-reconstructions") { Description = "DRAW-GAN: the discriminator also judges the canvases of DRAW's training pass, not only those drawn from the prior." };
        var convNonlinearity = new Option<Nonlinearity>("--conv-nonlinearity") { HelpName = "relu|softplus", Description = "Conv VAE, CVAE, VAE-GAN, CVAE-GAN: the hidden units of the conv encoder and decoder (softplus: as before 2026-11-28).", DefaultValueFactory = _ => defaults.ConvNonlinearity };
        var maxMinutes = new Option<double>("--max-minutes") { Description = "Stop after the epoch that ends past this many minutes (0 = no limit)." };
        var decayLr = new Option<bool>("--decay-lr") { Description = "Lower the learning rate linearly to 0 over the time limit (--max-minutes), or over the epochs without one." };
        var output = new Option<string?>("--output", "-o") { Description = "Run folder for config.json, metrics.jsonl, model.pt and samples (default: runs/<time>-<model>-<arch>)." };
        var resume = new Option<string?>("--resume")
        {
            HelpName = "FOLDER",
            Description = "Continue the interrupted run in FOLDER from its last finished epoch, to its number of epochs, with its saved config (other options are ignored).",
        };
        var dataDir = CliOptions.DataDirectory();

        var command = new Command("train", "Train a model and write a run folder; prints the test ELBO after every epoch.")
        {
            model, arch, dataset, latent, hidden, epochs, batch, lr, seed, binarize, trainLimit, testLimit,
            labels, split, balance, alpha, learnedPrior, m1Epochs, drawSteps, noAttention, readSize, writeSize, gamma, adversarialWeight, judgeReconstructions, convNonlinearity, maxMinutes, decayLr, output, resume, dataDir,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            if (parse.GetValue(resume) is { } resumed) return await Resume(resumed, parse.GetValue(dataDir), cancellationToken);
            var config = new RunConfig
            {
                Model = parse.GetValue(model)!, Arch = parse.GetValue(arch), Dataset = parse.GetValue(dataset)!,
                Latent = parse.GetValue(latent), Hidden = parse.GetValue(hidden)!, Epochs = parse.GetValue(epochs),
                BatchSize = parse.GetValue(batch), LearningRate = parse.GetValue(lr), Seed = parse.GetValue(seed),
                Binarize = parse.GetValue(binarize), TrainLimit = parse.GetValue(trainLimit), TestLimit = parse.GetValue(testLimit),
                Labels = parse.GetValue(labels), Split = parse.GetValue(split), Balance = parse.GetValue(balance), Alpha = parse.GetValue(alpha),
                LearnedPrior = parse.GetValue(learnedPrior), M1Epochs = parse.GetValue(m1Epochs), MaxMinutes = parse.GetValue(maxMinutes), DecayLearningRate = parse.GetValue(decayLr),
                DrawSteps = parse.GetValue(drawSteps), Attention = !parse.GetValue(noAttention), ReadSize = parse.GetValue(readSize), WriteSize = parse.GetValue(writeSize), Gamma = parse.GetValue(gamma),
                AdversarialWeight = parse.GetValue(adversarialWeight), JudgeReconstructions = parse.GetValue(judgeReconstructions),
                ConvNonlinearity = parse.GetValue(convNonlinearity),
            };
            if (config.Validate() is { Count: > 0 } errors)
                return CliOptions.Fail(string.Join(Environment.NewLine, errors.Select(e => e.Message)), CliOptions.UsageError);
            var folder = parse.GetValue(output)
                ?? Path.Combine("runs", $"{DateTime.Now:yyyyMMdd-HHmmss}-{config.Model}-{config.Arch}".ToLowerInvariant());
            try { RunFolder.CreateNew(folder); }                             // before loading anything: say it at once
            catch (RunFolderInUseException e) { return CliOptions.Fail(e.Message, CliOptions.UsageError); }
            return await Train(config, folder, parse.GetValue(dataDir), cancellationToken);
        });
        return command;
    }

    /// <summary>Trains with a progress bar and prints the per-epoch table; used by `train` and `reproduce`.</summary>
    public static Task<int> Train(RunConfig config, string folder, string? dataDirectory, CancellationToken cancellationToken)
    {
        AnsiConsole.MarkupLineInterpolated($"Training [bold]{config.Model} ({config.Arch})[/] on {config.Dataset} for {config.Epochs} epochs → {Path.GetFullPath(folder)}");
        return Train(config, folder, (onEvent, cancel) => Trainer.Run(config, folder, onEvent, dataDirectory, cancel), cancellationToken);
    }

    /// <summary>`train --resume`: the run in <paramref name="folder"/> continues from its latest resume state.</summary>
    static async Task<int> Resume(string folder, string? dataDirectory, CancellationToken cancellationToken)
    {
        RunConfig config;
        try { config = RunFolder.Open(folder).ReadConfig(); }
        catch (Exception e) when (e is IOException or System.Text.Json.JsonException) { return CliOptions.Fail(e.Message, CliOptions.UsageError); }
        AnsiConsole.MarkupLineInterpolated($"Resuming [bold]{config.Model} ({config.Arch})[/] on {config.Dataset} to {config.Epochs} epochs in {Path.GetFullPath(folder)}");
        using var data = new DatasetCache(dataDirectory);
        return await Train(config, folder, (onEvent, cancel) => Trainer.Resume(folder, data, onEvent, cancellationToken: cancel), cancellationToken);
    }

    static async Task<int> Train(RunConfig config, string folder, Func<Action<TrainingEvent>, CancellationToken, TrainingResult> train, CancellationToken cancellationToken)
    {
        TrainingResult? result = null;
        var epochLines = new List<EpochReport>();
        CheckpointSaved? kept = null;
        try
        {
            await AnsiConsole.Progress()
                .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(),
                         new ElapsedTimeColumn(), new RemainingTimeColumn(), new SpinnerColumn())
                .StartAsync(async context =>
                {
                    var task = context.AddTask("loading data", maxValue: 1);
                    result = await Task.Run(() => train(e =>
                    {
                        switch (e)
                        {
                            case StepReport s:
                                task.MaxValue = s.TotalSteps;
                                task.Value = s.Step;
                                var (name, value) = s.Metrics.First();
                                task.Description = s.Epoch == 0
                                    ? $"pre-training · {s.ImagesPerSecond,7:N0} img/s · {name} {value,8:F2}"
                                    : $"epoch {s.Epoch}/{config.Epochs} · {s.ImagesPerSecond,7:N0} img/s · {name} {value,8:F2}";
                                break;
                            case EpochReport r:
                                epochLines.Add(r);
                                break;
                            case CheckpointSaved c:
                                kept = c;
                                break;
                        }
                    }, cancellationToken), cancellationToken);
                    task.Value = task.MaxValue;
                });
        }
        catch (OperationCanceledException)
        {
            return CliOptions.Fail($"Cancelled. Checkpoints of finished epochs are in {folder}; continue with: train --resume {folder}");
        }
        catch (Exception e) when (e is DatasetUnavailableException or InvalidConfigException or IOException)
        {
            return CliOptions.Fail(e.Message);
        }
        catch (TrainingDivergedException e)
        {
            // A NaN, an infinite loss or a collapsed GAN: the run failed; what it learned up to its last epoch stays.
            return CliOptions.Fail($"the run failed. {e.Message} " + (kept is null
                ? "No epoch was completed, so there is no checkpoint."
                : $"The checkpoint of epoch {kept.Epoch} is kept: {kept.Path}"));
        }

        var run = new RunFolder(folder);
        var epochsDone = epochLines.LastOrDefault()?.Epoch ?? 0;                 // resumed runs: the last epoch, not how many this process ran
        // One column per metric the model reported (train loss terms, validation and test metrics), whatever the model.
        var columns = epochLines.Count == 0 ? [] : new[] { ("train", epochLines[0].Train), ("validation", epochLines[0].Validation), ("test", epochLines[0].Test) }
            .Where(c => c.Item2 is not null).SelectMany(c => c.Item2!.Keys.Select(k => (Set: c.Item1, Key: k))).ToList();
        var table = new Table().AddColumns(["epoch", .. columns.Select(c => $"{c.Set} {c.Key}"), "seconds", "img/s"]);
        foreach (var r in epochLines)
        {
            string Cell((string Set, string Key) c) =>
                (c.Set switch { "train" => r.Train, "validation" => r.Validation, _ => r.Test })?.TryGetValue(c.Key, out var v) == true ? $"{v:F2}" : "–";
            table.AddRow([$"{r.Epoch}", .. columns.Select(Cell), $"{r.EpochDuration.TotalSeconds:F1}", $"{r.ImagesPerSecond:N0}"]);
        }
        AnsiConsole.Write(table);
        // Plain Console on purpose: the last lines are what scripts grep for.
        var best = result!.FinalTest;
        if (best.TryGetValue(Metrics.Error, out var error))
            Console.WriteLine($"test error: {error:F2}% at epoch {best["best-epoch"]}" +
                (best.TryGetValue("validation-" + Metrics.Error, out var validation) ? $" (best validation error {validation:F2}%)" : "") +
                $", {epochsDone} epochs in {result.Duration.TotalMinutes:F1} min");
        else if (best.TryGetValue(Metrics.Elbo, out var elbo))
            Console.WriteLine($"test ELBO: {elbo:F2} nats after {epochsDone} epochs in {result.Duration.TotalSeconds:F1} s");
        else
            Console.WriteLine($"test: {string.Join(", ", best.Select(kv => $"{kv.Key} {kv.Value:F2}"))} after {epochsDone} epochs in {result.Duration.TotalSeconds:F1} s");
        Console.WriteLine($"samples: {run.SamplesFile(epochsDone)}");
        return 0;
    }
}
