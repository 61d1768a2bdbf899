using System.CommandLine;
using Spectre.Console;
using VaeWeb.Engine.Data;
using VaeWeb.Engine.Models;
using VaeWeb.Engine.Native;
using VaeWeb.Engine.Training;

namespace VaeWeb.Engine.Cli;

static class EvaluateCommand
{
    /// <summary>Binarizations per test image for the averaged prediction.</summary>
    const int ErrorDraws = 16;

    public static Command Create()
    {
        var run = new Argument<DirectoryInfo>("run") { Description = "Run folder written by 'train' (holds checkpoint.json and model.pt)." };
        var k = new Option<int>("--k", "-k") { Description = "Importance samples per test image for the log-likelihood estimate (Burda et al. 2015 use 5000).", DefaultValueFactory = _ => 100 };
        var testLimit = new Option<int>("--test-limit") { Description = "Evaluate on the first N test images only (0 = all)." };
        var dataDir = CliOptions.DataDirectory();
        k.Validators.Add(r => { if (r.GetValueOrDefault<int>() is < 1 or > 100_000) r.AddError("--k must be between 1 and 100000."); });

        var command = new Command("evaluate", "Score a trained run on the test set: ELBO and an importance-weighted estimate of log p(x).")
        {
            run, k, testLimit, dataDir,
        };
        command.SetAction((parse, cancellationToken) => Task.Run(() =>
        {
            var folder = parse.GetValue(run)!;
            if (!folder.Exists) return CliOptions.Fail($"Run folder {folder.FullName} does not exist.", CliOptions.UsageError);
            try
            {
                TorchRuntime.EnsureInitialized();
                var (model, checkpoint) = new RunFolder(folder.FullName).LoadCheckpoint();
                using var _ = model;
                var config = checkpoint.Config;
                var (train, test) = Datasets.Load(config.Dataset, parse.GetValue(dataDir));
                train.Dispose();
                using var testSet = test;
                using var subset = test.Take(parse.GetValue(testLimit));
                var metrics = model.Evaluate(subset, config.Binarize);
                Console.WriteLine($"run: {folder.FullName} (epoch {checkpoint.Epoch}, {config.Model} {config.Arch}, {subset.Count} test images)");
                if (metrics.TryGetValue(Metrics.Elbo, out var elbo))
                    Console.WriteLine($"test ELBO: {elbo:F2} nats (reconstruction {metrics[Metrics.Reconstruction]:F2}, KL {metrics[Metrics.Kl]:F2})");
                else
                    Console.WriteLine($"test: {string.Join(", ", metrics.Select(kv => $"{kv.Key} {kv.Value:F2}"))}");
                if (config.Info!.Has(Capability.Classifier) && config.Binarize == Binarization.Dynamic)
                {
                    // The error above is on one fixed binarization; a classifier of binarized digits can also be asked
                    // about the digit itself, its prediction averaged over many draws, or shown the grey levels.
                    Console.WriteLine($"test error on the grey levels: {Evaluation.ErrorPercent(model.Classify, subset.Images, subset.Labels):F2}%; " +
                        $"with q(y|x) averaged over {ErrorDraws} binarizations of each image: {Evaluation.ErrorOverBinarizations(model.Classify, subset, ErrorDraws):F2}%");
                }
                if (!config.Info!.Has(Capability.Likelihood))
                {
                    Console.WriteLine($"The {config.Info.Title} has no importance-weighted log-likelihood estimate.");
                    return 0;
                }
                int samples = parse.GetValue(k);
                var of = Evaluation.LikelihoodOf(config.Info);
                double logLikelihood = 0;
                AnsiConsole.Progress()
                    .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                    .Start(context =>
                    {
                        var task = context.AddTask($"{of}, k = {samples}", maxValue: 1);
                        logLikelihood = Evaluation.ImportanceWeightedLogLikelihood(model, subset, config.Binarize, samples, f => task.Value = f, cancellationToken);
                    });
                Console.WriteLine($"test {of} ≈ {logLikelihood:F2} nats (importance-weighted, k = {samples})");
                return 0;
            }
            catch (OperationCanceledException) { return CliOptions.Fail("Cancelled."); }
            catch (Exception e) when (e is FileNotFoundException or InvalidDataException or DatasetUnavailableException)
            {
                return CliOptions.Fail(e.Message);
            }
        }, cancellationToken));
        return command;
    }
}
