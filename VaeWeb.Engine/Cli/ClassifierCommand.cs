using System.CommandLine;
using Spectre.Console;
using VaeWeb.Engine.Data;
using VaeWeb.Engine.Models;
using VaeWeb.Engine.Native;
using VaeWeb.Engine.Quality;

namespace VaeWeb.Engine.Cli;

/// <summary>`classifier`: trains the dataset's own classifier that sample quality is measured with, and keeps it under data/.</summary>
static class ClassifierCommand
{
    public static Command Create()
    {
        var dataset = new Option<string>("--dataset") { Description = $"The dataset: {string.Join(", ", Datasets.Names)}.", DefaultValueFactory = _ => "mnist" };
        var epochs = new Option<int>("--epochs") { Description = "Passes over the 60,000 training images.", DefaultValueFactory = _ => 5 };
        var seed = new Option<long>("--seed") { Description = "Seed of initialization, shuffling and dropout.", DefaultValueFactory = _ => 1 };
        var dataDir = CliOptions.DataDirectory();
        var command = new Command("classifier",
            "Train the convnet classifier whose features and confidences measure sample quality (the Fréchet distance of every run's samples), and keep it in the data folder.")
        {
            dataset, epochs, seed, dataDir,
        };
        command.SetAction((parse, cancellationToken) => Task.Run(() =>
        {
            var name = parse.GetValue(dataset)!;
            if (!Datasets.Names.Contains(name)) return CliOptions.Fail($"Unknown dataset '{name}'. Known: {string.Join(", ", Datasets.Names)}.", CliOptions.UsageError);
            if (Datasets.Find(name) is { IsColour: true } colour)
                return CliOptions.Fail($"The sample-quality classifier is for 28×28 grey datasets; {colour.Title} is colour, and its runs report bits per dimension instead.", CliOptions.UsageError);
            if (parse.GetValue(epochs) is < 1 or > 100) return CliOptions.Fail("--epochs must be between 1 and 100.", CliOptions.UsageError);
            var directory = CliOptions.DataDirectoryOrDefault(parse.GetValue(dataDir));
            try
            {
                TorchRuntime.EnsureInitialized();
                var (train, test) = Datasets.Load(name, directory);
                using (train) using (test)
                {
                    ModelRegistry.Create(new Training.RunConfig { Seed = parse.GetValue(seed) }).Dispose();   // seeds torch's global generator under its lock
                    using var classifier = new DigitClassifier();
                    double accuracy = 0;
                    AnsiConsole.Progress()
                        .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
                        .Start(context =>
                        {
                            var task = context.AddTask($"{name} classifier, {parse.GetValue(epochs)} epochs", maxValue: 1);
                            accuracy = classifier.Train(train, test, parse.GetValue(epochs), parse.GetValue(seed),
                                (epoch, a) => AnsiConsole.MarkupLineInterpolated($"epoch {epoch}: test accuracy {a:F2}%"), f => task.Value = f, cancellationToken);
                        });
                    var file = DigitClassifier.FileFor(directory, name);
                    Directory.CreateDirectory(Path.GetDirectoryName(file)!);
                    classifier.save(file + ".tmp");
                    File.Move(file + ".tmp", file, overwrite: true);
                    Console.WriteLine($"test accuracy {accuracy:F2}% → {file}");
                    return 0;
                }
            }
            catch (OperationCanceledException) { return CliOptions.Fail("Cancelled."); }
            catch (DatasetUnavailableException e) { return CliOptions.Fail(e.Message); }
        }, cancellationToken));
        return command;
    }
}
