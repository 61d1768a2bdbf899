using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using VaeWeb.Engine.Data;
using VaeWeb.Engine.Training;
using Architecture = VaeWeb.Engine.Training.Architecture;

namespace VaeWeb.Engine.Cli;

/// <summary>
/// `reproduce`: trains the poster's semi-supervised configurations, each under a time budget, and writes the table of
/// measured errors beside the poster's and Kingma et al.'s. Results accumulate in a JSON file next to the table, so
/// configurations can be run one at a time (--only) and the table is always regenerated from measurements.
/// </summary>
static class ReproduceCommand
{
    /// <summary>One row of the table: what is trained, and the published test errors (%) it is compared with.</summary>
    /// <param name="M1Epochs">M1+M2 rows: epochs of M1 pre-training (the other models ignore it).</param>
    public sealed record Experiment(string Name, string Model, Architecture Arch, int Labels, double? Poster, double? Kingma, string Description, int M1Epochs = 10);

    // Poster: FC 5.1 / conv 4.8 at 1000 labels, FC 12.0 / conv 6.2 at 600. Kingma et al. 2014, Table 1:
    // M2 11.97 / 4.94 / 3.60 / 3.92 and M1+M2 3.33 / 2.59 / 2.40 / 2.18 at 100 / 600 / 1000 / 3000 labels.
    public static readonly Experiment[] Experiments =
    [
        new("m2-fc-1000", ModelKind.M2, Architecture.Fc, 1000, 5.1, 3.60, "M2 (FC)"),
        new("m2-fc-600", ModelKind.M2, Architecture.Fc, 600, 12.0, 4.94, "M2 (FC)"),
        new("m2-conv-1000", ModelKind.M2, Architecture.Conv, 1000, 4.8, null, "M2 (conv classifier)"),
        new("m2-conv-600", ModelKind.M2, Architecture.Conv, 600, 6.2, null, "M2 (conv classifier)"),
        new("m2-conv-100", ModelKind.M2, Architecture.Conv, 100, null, 11.97, "M2 (conv classifier)"),
        new("m2-conv-3000", ModelKind.M2, Architecture.Conv, 3000, null, 3.92, "M2 (conv classifier)"),
        new("m1m2-1000", ModelKind.M1M2, Architecture.Fc, 1000, null, 2.40, "M1+M2 (FC)", M1Epochs: 20),
        new("m1m2-600", ModelKind.M1M2, Architecture.Fc, 600, null, 2.59, "M1+M2 (FC)", M1Epochs: 20),
    ];

    public sealed record Result(string Name, string Config, int Epochs, int BestEpoch, double ValidationError, double TestError,
        double Minutes, double BudgetMinutes, DateTime FinishedUtc, string Machine);

    public static Command Create()
    {
        var minutes = new Option<double>("--minutes") { Description = "Training budget per configuration, in minutes: each stops after the epoch that crosses it.", DefaultValueFactory = _ => 60 };
        var only = new Option<string[]>("--only") { Description = $"Run only these configurations: {string.Join(", ", Experiments.Select(e => e.Name))}.", AllowMultipleArgumentsPerToken = true };
        var split = new Option<ValidationSplit>("--split") { HelpName = "poster|kingma", Description = "Training/validation split: the poster's 55,000/5,000 or Kingma's 50,000/10,000.", DefaultValueFactory = _ => ValidationSplit.Poster };
        var output = new Option<string>("--output", "-o") { Description = "The Markdown table to write; results accumulate in the .json beside it.", DefaultValueFactory = _ => Path.Combine("docs", "results.md") };
        var runs = new Option<string>("--runs") { Description = "Folder for the run folders (checkpoints, metrics).", DefaultValueFactory = _ => Path.Combine("runs", "reproduce") };
        var dataDir = CliOptions.DataDirectory();
        var command = new Command("reproduce", "Train the poster's semi-supervised configurations under a time budget each and write the results table.")
        {
            minutes, only, split, output, runs, dataDir,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var names = parse.GetValue(only) ?? [];
            var unknown = names.Where(n => Experiments.All(e => e.Name != n)).ToList();
            if (unknown.Count > 0)
                return CliOptions.Fail($"Unknown configuration {string.Join(", ", unknown)}. Known: {string.Join(", ", Experiments.Select(e => e.Name))}.", CliOptions.UsageError);
            var budget = parse.GetValue(minutes);
            if (!(budget > 0)) return CliOptions.Fail("--minutes must be positive.", CliOptions.UsageError);
            var table = parse.GetValue(output)!;
            var store = Path.ChangeExtension(table, ".json");
            var results = Load(store);
            foreach (var experiment in Experiments.Where(e => names.Length == 0 || names.Contains(e.Name)))
            {
                var config = ConfigFor(experiment, budget, parse.GetValue(split));
                // A fresh folder for every measurement: its metrics are this run's alone.
                var folder = Path.Combine(parse.GetValue(runs)!, $"{experiment.Name}-{DateTime.UtcNow:yyyyMMdd-HHmmss}");
                var code = await TrainCommand.Train(config, folder, parse.GetValue(dataDir), cancellationToken);
                if (code != 0) return code;
                var metrics = File.ReadLines(new RunFolder(folder).MetricsFile)
                    .Select(l => JsonSerializer.Deserialize<TrainingEvent>(l, RunConfig.Json)).OfType<EpochReport>().ToList();
                var best = metrics.OrderBy(r => r.Validation![Metrics.Error]).ThenBy(r => r.Epoch).First();
                results[experiment.Name] = new Result(experiment.Name, config.ToJson(), metrics.Count, best.Epoch, best.Validation![Metrics.Error],
                    best.Test[Metrics.Error], metrics[^1].Step == 0 ? 0 : Elapsed(folder), budget, DateTime.UtcNow, Machine());
                Save(store, results);
                Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(table))!);
                File.WriteAllText(table, Markdown(results));
                Console.WriteLine($"{experiment.Name}: test error {best.Test[Metrics.Error]:F2}% → {table}");
            }
            return 0;
        });
        return command;
    }

    /// <summary>
    /// The configuration each row trains. Epochs are a ceiling the budget cuts short; the learning rate and α are the
    /// defaults (Adam at 1e-3, α = 0.1·N/N_labeled), the same in every row.
    /// </summary>
    public static RunConfig ConfigFor(Experiment e, double minutes, ValidationSplit split) => new()
    {
        Model = e.Model, Arch = e.Arch, Labels = e.Labels, Split = split, Epochs = RunConfig.MaxEpochs, MaxMinutes = minutes,
        Latent = 50, Hidden = [500, 500], LearningRate = 1e-3, Seed = 1,
        M1Epochs = e.M1Epochs,
    };

    /// <summary>Wall time of the run from its last step report, in minutes.</summary>
    static double Elapsed(string folder) => File.ReadLines(new RunFolder(folder).MetricsFile)
        .Select(l => JsonSerializer.Deserialize<TrainingEvent>(l, RunConfig.Json)).OfType<StepReport>().Last().Elapsed.TotalMinutes;

    static Dictionary<string, Result> Load(string path) => File.Exists(path)
        ? JsonSerializer.Deserialize<Dictionary<string, Result>>(File.ReadAllText(path), RunConfig.Json) ?? []
        : [];

    static void Save(string path, Dictionary<string, Result> results)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        File.WriteAllText(path + ".tmp", JsonSerializer.Serialize(results, RunConfig.Json));
        File.Move(path + ".tmp", path, overwrite: true);
    }

    public static string Machine()
    {
        var cpu = File.Exists("/proc/cpuinfo")
            ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name"))?.Split(':', 2)[1].Trim()
            : null;
        var memory = File.Exists("/proc/meminfo")
            ? File.ReadLines("/proc/meminfo").First().Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]
            : null;
        var gib = memory is null ? "" : $", {long.Parse(memory, CultureInfo.InvariantCulture) / 1024.0 / 1024:F0} GiB";
        return $"{cpu ?? RuntimeInformation.ProcessArchitecture.ToString()}, {Environment.ProcessorCount} cores{gib}, {RuntimeInformation.OSDescription}, .NET {Environment.Version}, TorchSharp {typeof(TorchSharp.torch).Assembly.GetName().Version}";
    }

    static string Fmt(double? v) => v is null ? "–" : v.Value.ToString("F2", CultureInfo.InvariantCulture) + "%";

    static string Markdown(Dictionary<string, Result> results)
    {
        var md = new StringBuilder();
        md.AppendLine("# Semi-supervised MNIST: measured against the poster and Kingma et al. (2014)");
        md.AppendLine();
        md.AppendLine("Written by `dotnet run -c Release --project VaeWeb.Engine -- reproduce` (this file and results.json beside it are");
        md.AppendLine("regenerated from measurements; do not edit). Test error of the epoch with the best validation error; each");
        md.AppendLine("configuration trains until the epoch that ends past its time budget.");
        md.AppendLine();
        md.AppendLine("| configuration | labels | epochs | best epoch | validation error | test error | wall time | budget | poster | Kingma et al. |");
        md.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var e in Experiments)
        {
            if (!results.TryGetValue(e.Name, out var r)) continue;
            md.AppendLine(CultureInfo.InvariantCulture, $"| {e.Description} | {e.Labels} | {r.Epochs} | {r.BestEpoch} | {r.ValidationError:F2}% | **{r.TestError:F2}%** | {r.Minutes:F1} min | {r.BudgetMinutes:F0} min | {Fmt(e.Poster)} | {Fmt(e.Kingma)} |");
        }
        md.AppendLine();
        md.AppendLine("Machines and dates of the rows:");
        md.AppendLine();
        foreach (var r in results.Values.OrderBy(r => Array.FindIndex(Experiments, e => e.Name == r.Name)))
            md.AppendLine(CultureInfo.InvariantCulture, $"- `{r.Name}`: {r.FinishedUtc:yyyy-MM-dd HH:mm} UTC on {r.Machine}");
        md.AppendLine();
        md.AppendLine("Configurations (the run's config.json):");
        md.AppendLine();
        foreach (var r in results.Values.OrderBy(r => Array.FindIndex(Experiments, e => e.Name == r.Name)))
            md.AppendLine(CultureInfo.InvariantCulture, $"- `{r.Name}`: `{JsonSerializer.Serialize(JsonSerializer.Deserialize<RunConfig>(r.Config, RunConfig.Json), new JsonSerializerOptions(RunConfig.Json) { WriteIndented = false })}`");
        return md.ToString();
    }

}
