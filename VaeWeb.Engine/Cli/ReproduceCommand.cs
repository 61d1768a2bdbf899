using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using VaeWeb.Engine.Data;
using VaeWeb.Engine.Models;
using VaeWeb.Engine.Training;
using Architecture = VaeWeb.Engine.Training.Architecture;

namespace VaeWeb.Engine.Cli;

/// <summary>
/// `reproduce`: trains the poster's semi-supervised configurations, each under its family's time budget, once per
/// seed, and writes the table of measured errors beside the published ones. Every measurement is appended to a JSON
/// file next to the table (date, commit, machine, budget, seed) and never replaced, so configurations can run a few
/// at a time (--only), across sessions, and the table is always regenerated from all of them.
/// </summary>
static class ReproduceCommand
{
    /// <summary>One row of the table: what is trained, under which budget, and the published test errors (%) it compares with.</summary>
    /// <param name="Minutes">The budget of the row's family: rows that are compared share it.</param>
    /// <param name="Poster">The poster's figure for the same architecture (FC or conv), if it has one.</param>
    /// <param name="Kingma">Kingma et al.'s (2014, Table 1) figure; their models are fully connected, so FC rows only.</param>
    /// <param name="M1Epochs">M1+M2 rows: epochs of M1 before M2 (the other models ignore it).</param>
    public sealed record Experiment(string Name, string Model, Architecture Arch, int Labels, LabelBalance Balance, double Minutes,
        double? Poster, double? Kingma, string Description, int M1Epochs = 10);

    // Poster: FC 5.1 / conv 4.8 at 1000 labels, FC 12.0 / conv 6.2 at 600. Kingma et al. 2014, Table 1:
    // M2 11.97 / 4.94 / 3.60 / 3.92 and M1+M2 3.33 / 2.59 / 2.40 / 2.18 at 100 / 600 / 1000 / 3000 labels.
    // Families and budgets: FC M2 15 min; conv M2 15 min, except 100 labels 30 min (ten labeled images per class need
    // more epochs); M1+M2 15 min in all, its M1 included. "-paper" rows are the label-balance ablation, same budgets.
    public static readonly Experiment[] Experiments =
    [
        new("m2-fc-1000", ModelKind.M2, Architecture.Fc, 1000, LabelBalance.Oversampled, 15, 5.1, 3.60, "M2 (FC)"),
        new("m2-fc-600", ModelKind.M2, Architecture.Fc, 600, LabelBalance.Oversampled, 15, 12.0, 4.94, "M2 (FC)"),
        new("m2-conv-1000", ModelKind.M2, Architecture.Conv, 1000, LabelBalance.Oversampled, 15, 4.8, null, "M2 (conv classifier)"),
        new("m2-conv-1000-paper", ModelKind.M2, Architecture.Conv, 1000, LabelBalance.Paper, 15, 4.8, null, "M2 (conv classifier)"),
        new("m2-conv-600", ModelKind.M2, Architecture.Conv, 600, LabelBalance.Oversampled, 15, 6.2, null, "M2 (conv classifier)"),
        new("m2-conv-600-paper", ModelKind.M2, Architecture.Conv, 600, LabelBalance.Paper, 15, 6.2, null, "M2 (conv classifier)"),
        new("m2-conv-3000", ModelKind.M2, Architecture.Conv, 3000, LabelBalance.Oversampled, 15, null, null, "M2 (conv classifier)"),
        new("m2-conv-100", ModelKind.M2, Architecture.Conv, 100, LabelBalance.Oversampled, 30, null, null, "M2 (conv classifier)"),
        new("m2-conv-100-paper", ModelKind.M2, Architecture.Conv, 100, LabelBalance.Paper, 30, null, null, "M2 (conv classifier)"),
        new("m1m2-1000", ModelKind.M1M2, Architecture.Fc, 1000, LabelBalance.Oversampled, 15, null, 2.40, "M1+M2 (FC)", M1Epochs: 20),
        new("m1m2-1000-paper", ModelKind.M1M2, Architecture.Fc, 1000, LabelBalance.Paper, 15, null, 2.40, "M1+M2 (FC)", M1Epochs: 20),
        new("m1m2-600", ModelKind.M1M2, Architecture.Fc, 600, LabelBalance.Oversampled, 15, null, 2.59, "M1+M2 (FC)", M1Epochs: 20),
    ];

    /// <summary>One measurement: one configuration, one seed, one budget, on one machine at one commit.</summary>
    /// <param name="M1Elbo">M1+M2: M1's test ELBO (nats per image) at the kept checkpoint.</param>
    /// <param name="Note">Why a measurement differs from the current protocol (older ones recovered from git history).</param>
    public sealed record Result(string Name, long Seed, string Config, int Epochs, int BestEpoch, double ValidationError, double TestError,
        double Minutes, double BudgetMinutes, DateTime FinishedUtc, string Machine, string? Commit, double? M1Elbo = null, string? Note = null);

    public static Command Create()
    {
        var minutes = new Option<double?>("--minutes") { Description = "Override every configuration's budget (minutes; each stops after the epoch that crosses it). Default: its family's budget." };
        var only = new Option<string[]>("--only") { Description = $"Run only these configurations: {string.Join(", ", Experiments.Select(e => e.Name))}.", AllowMultipleArgumentsPerToken = true };
        var seeds = new Option<int>("--seeds") { Description = "Seeds per configuration: --first-seed, --first-seed + 1, …", DefaultValueFactory = _ => 1 };
        var firstSeed = new Option<int>("--first-seed") { Description = "The first seed (to add seeds to a configuration measured before).", DefaultValueFactory = _ => 1 };
        var split = new Option<ValidationSplit>("--split") { HelpName = "poster|kingma", Description = "Training/validation split: the poster's 55,000/5,000 or Kingma's 50,000/10,000.", DefaultValueFactory = _ => ValidationSplit.Poster };
        var output = new Option<string>("--output", "-o") { Description = "The Markdown table to write; measurements accumulate in the .json beside it.", DefaultValueFactory = _ => Path.Combine("docs", "results.md") };
        var runs = new Option<string>("--runs") { Description = "Folder for the run folders (checkpoints, metrics).", DefaultValueFactory = _ => Path.Combine("runs", "reproduce") };
        var tableOnly = new Option<bool>("--table-only") { Description = "Train nothing: regenerate the table from the measurements." };
        var dataDir = CliOptions.DataDirectory();
        var command = new Command("reproduce", "Train the poster's semi-supervised configurations under their budgets, per seed, and write the results table.")
        {
            minutes, only, seeds, firstSeed, split, output, runs, tableOnly, dataDir,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var names = parse.GetValue(only) ?? [];
            var unknown = names.Where(n => Experiments.All(e => e.Name != n)).ToList();
            if (unknown.Count > 0)
                return CliOptions.Fail($"Unknown configuration {string.Join(", ", unknown)}. Known: {string.Join(", ", Experiments.Select(e => e.Name))}.", CliOptions.UsageError);
            var budget = parse.GetValue(minutes);
            if (budget is not null && !(budget > 0)) return CliOptions.Fail("--minutes must be positive.", CliOptions.UsageError);
            if (parse.GetValue(seeds) < 1 || parse.GetValue(firstSeed) < 0) return CliOptions.Fail("--seeds must be at least 1 and --first-seed at least 0.", CliOptions.UsageError);
            var table = parse.GetValue(output)!;
            var store = Path.ChangeExtension(table, ".json");
            var results = Load(store);
            var commit = Commit();
            foreach (var experiment in parse.GetValue(tableOnly) ? [] : Experiments.Where(e => names.Length == 0 || names.Contains(e.Name)))
            for (long seed = parse.GetValue(firstSeed); seed < parse.GetValue(firstSeed) + parse.GetValue(seeds); seed++)
            {
                var config = ConfigFor(experiment, budget ?? experiment.Minutes, parse.GetValue(split), seed);
                // A fresh folder for every measurement: its metrics are this run's alone (RunFolder refuses a used one).
                var folder = Path.Combine(parse.GetValue(runs)!, $"{experiment.Name}-seed{seed}-{DateTime.UtcNow:yyyyMMdd-HHmmss}");
                var code = await TrainCommand.Train(config, folder, parse.GetValue(dataDir), cancellationToken);
                if (code != 0) return code;
                var result = Measure(experiment.Name, config, folder, commit);
                results.Add(result);
                Save(store, results);
                Console.WriteLine($"{experiment.Name} seed {seed}: test error {result.TestError:F2}% → {store}");
            }
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(table))!);
            File.WriteAllText(table, Markdown(results));
            Console.WriteLine($"{results.Count} measurements → {table}");
            return 0;
        });
        return command;
    }

    /// <summary>
    /// The configuration each row trains. Epochs are a ceiling the budget cuts short; the learning rate and α are the
    /// defaults (Adam at 1e-3, α = 0.1·N/N_labeled per labeled image), the same in every row.
    /// </summary>
    public static RunConfig ConfigFor(Experiment e, double minutes, ValidationSplit split, long seed = 1) => new()
    {
        Model = e.Model, Arch = e.Arch, Labels = e.Labels, Balance = e.Balance, Split = split, Epochs = RunConfig.MaxEpochs,
        MaxMinutes = minutes, Latent = 50, Hidden = [500, 500], LearningRate = 1e-3, Seed = seed, M1Epochs = e.M1Epochs,
    };

    /// <summary>
    /// The measurement of the run in <paramref name="folder"/>, from its own metrics.jsonl: the test error of the epoch with
    /// the lowest validation error (the kept checkpoint), and the run's wall time from its last step report.
    /// </summary>
    public static Result Measure(string name, RunConfig config, string folder, string? commit)
    {
        var events = File.ReadLines(new RunFolder(folder).MetricsFile).Select(l => JsonSerializer.Deserialize<TrainingEvent>(l, RunConfig.Json)).ToList();
        var epochs = events.OfType<EpochReport>().ToList();
        var best = epochs.OrderBy(r => r.Validation![Metrics.Error]).ThenBy(r => r.Epoch).First();
        var minutes = events.OfType<StepReport>().Last().Elapsed.TotalMinutes;
        return new Result(name, config.Seed, config.ToJson(), epochs.Count, best.Epoch, best.Validation![Metrics.Error], best.Test[Metrics.Error],
            minutes, config.MaxMinutes, DateTime.UtcNow, Machine(), commit, best.Test.TryGetValue(M1M2.M1Elbo, out var m1) ? m1 : null);
    }

    /// <summary>Every measurement so far, oldest first.</summary>
    public static List<Result> Load(string path) => File.Exists(path)
        ? JsonSerializer.Deserialize<List<Result>>(File.ReadAllText(path), RunConfig.Json) ?? []
        : [];

    static void Save(string path, List<Result> results)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        File.WriteAllText(path + ".tmp", JsonSerializer.Serialize(results, RunConfig.Json));
        File.Move(path + ".tmp", path, overwrite: true);
    }

    /// <summary>The checked-out commit, "+changes" when the tree differs from it; null outside a git checkout.</summary>
    static string? Commit()
    {
        string? Git(string arguments)
        {
            try
            {
                using var git = Process.Start(new ProcessStartInfo("git", arguments) { RedirectStandardOutput = true, RedirectStandardError = true });
                var text = git!.StandardOutput.ReadToEnd().Trim();
                git.WaitForExit();
                return git.ExitCode == 0 ? text : null;
            }
            catch (System.ComponentModel.Win32Exception) { return null; }
        }
        var head = Git("rev-parse --short HEAD");
        return head is null ? null : Git("status --porcelain --untracked-files=no") is { Length: > 0 } ? head + "+changes" : head;
    }

    /// <summary>CPU, the cores this process may use (taskset counts), memory, OS and library versions.</summary>
    public static string Machine()
    {
        var cpu = File.Exists("/proc/cpuinfo")
            ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name"))?.Split(':', 2)[1].Trim()
            : null;
        var memory = File.Exists("/proc/meminfo")
            ? File.ReadLines("/proc/meminfo").First().Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]
            : null;
        var gib = memory is null ? "" : $", {long.Parse(memory, CultureInfo.InvariantCulture) / 1024.0 / 1024:F0} GiB";
        return $"{cpu ?? RuntimeInformation.ProcessArchitecture.ToString()}, {Environment.ProcessorCount} {(Environment.ProcessorCount == 1 ? "core" : "cores")}{gib}, {RuntimeInformation.OSDescription}, .NET {Environment.Version}, TorchSharp {typeof(TorchSharp.torch).Assembly.GetName().Version}";
    }

    static string Percent(double? v) => v is null ? "–" : v.Value.ToString("F2", CultureInfo.InvariantCulture) + "%";

    /// <summary>
    /// The config without its seed, the budget and the cores the run could use (a minute of one core is half the work
    /// of a minute of two): measurements that differ only in seed are one row's spread.
    /// </summary>
    static string Protocol(Result r)
    {
        var config = JsonNode.Parse(r.Config)!.AsObject();
        config.Remove("seed");
        return $"{r.BudgetMinutes}|{Cores(r)}|{r.Note is null}|{config.ToJsonString()}";
    }

    /// <summary>The cores the measurement's process could use, as <see cref="Machine"/> recorded them.</summary>
    static int Cores(Result r) =>
        System.Text.RegularExpressions.Regex.Match(r.Machine, @", (\d+) cores?") is { Success: true } m ? int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : 0;

    /// <summary>
    /// A row's current measurements: those of its latest measurement's protocol (config but seed, budget), the latest
    /// per seed; and how many measurements of the row that leaves out (earlier protocols, or reruns of a seed).
    /// </summary>
    public static (List<Result> Current, int Earlier) Row(IEnumerable<Result> results, string name)
    {
        var all = results.Where(r => r.Name == name).OrderBy(r => r.FinishedUtc).ToList();
        if (all.Count == 0) return ([], 0);
        var protocol = Protocol(all[^1]);
        var current = all.Where(r => Protocol(r) == protocol).GroupBy(r => r.Seed).Select(g => g.Last()).OrderBy(r => r.Seed).ToList();
        return (current, all.Count - current.Count);
    }

    /// <summary>"2.31% ± 0.12" (sample standard deviation over seeds), or the single value.</summary>
    static string MeanStd(IReadOnlyList<double> values, string format, string unit)
    {
        var mean = values.Average();
        if (values.Count == 1) return mean.ToString(format, CultureInfo.InvariantCulture) + unit;
        var std = Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1));
        return string.Create(CultureInfo.InvariantCulture, $"{mean.ToString(format, CultureInfo.InvariantCulture)}{unit} ± {std.ToString(format, CultureInfo.InvariantCulture)}");
    }

    static string Markdown(List<Result> results)
    {
        var md = new StringBuilder();
        md.AppendLine("# Semi-supervised MNIST: measured against the poster and Kingma et al. (2014)");
        md.AppendLine();
        md.AppendLine("Written by `dotnet run -c Release --project VaeWeb.Engine -- reproduce` from every measurement in results.json beside it");
        md.AppendLine("(appended, never replaced; do not edit). A row is a configuration's latest protocol (its config but the seed, and");
        md.AppendLine("its budget in minutes × the cores the process could use): mean ± sample standard deviation over its seeds, the latest measurement of each seed; \"earlier\" counts");
        md.AppendLine("the measurements of the row it leaves out (other budgets or protocols, reruns of a seed) — all listed below.");
        md.AppendLine();
        md.AppendLine("Each measurement is the test error of the epoch with the lowest validation error (the kept checkpoint); the run");
        md.AppendLine("trains until the epoch that ends past its budget. The classifier is scored on one fixed binarization of the test");
        md.AppendLine("images, as it was trained on dynamically binarized ones. Label balance: *oversampled* takes a labeled batch as");
        md.AppendLine("large as the unlabeled one every step, both means weighted 1; *paper* is equation 9 (labeled batch in proportion");
        md.AppendLine("to the label count, means weighted N_l/N and N_u/N). Kingma et al.'s figures are fully connected models and stand");
        md.AppendLine("beside the FC rows only; the conv rows compare with the poster's convolutional figures.");
        md.AppendLine();
        md.AppendLine("| configuration | labels | label balance | budget | seeds | epochs | validation error | test error | M1 test ELBO | earlier | poster (same arch.) | Kingma et al. (FC) |");
        md.AppendLine("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var e in Experiments)
        {
            var (current, earlier) = Row(results, e.Name);
            if (current.Count == 0) continue;
            var m1 = current.Where(r => r.M1Elbo is not null).Select(r => r.M1Elbo!.Value).ToList();
            var note = current.Any(r => r.Note is not null) ? " ¹" : "";
            md.AppendLine(CultureInfo.InvariantCulture,
                $"| {e.Description}{note} | {e.Labels} | {e.Balance.ToString().ToLowerInvariant()} | {current[0].BudgetMinutes:G4} min × {Cores(current[0])} {(Cores(current[0]) == 1 ? "core" : "cores")} | {string.Join(", ", current.Select(r => r.Seed))} | {MeanStd([.. current.Select(r => (double)r.Epochs)], "F1", "")} | {MeanStd([.. current.Select(r => r.ValidationError)], "F2", "%")} | **{MeanStd([.. current.Select(r => r.TestError)], "F2", "%")}** | {(m1.Count == 0 ? "–" : MeanStd(m1, "F1", ""))} | {earlier} | {Percent(e.Poster)} | {Percent(e.Kingma)} |");
        }
        md.AppendLine();
        md.AppendLine("¹ Measured before issue 11's protocol (classifier scored on grey levels, M1+M2 on fixed posterior means), recovered");
        md.AppendLine("from the git history of results.json; shown until a measurement under the current protocol replaces it as latest.");
        md.AppendLine();
        md.AppendLine("## Every measurement");
        md.AppendLine();
        md.AppendLine("| configuration | seed | budget | epochs | best epoch | validation error | test error | wall time | finished (UTC) | commit | machine |");
        md.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---|---|---|");
        foreach (var r in results.OrderBy(r => Array.FindIndex(Experiments, e => e.Name == r.Name)).ThenBy(r => r.FinishedUtc))
            md.AppendLine(CultureInfo.InvariantCulture,
                $"| `{r.Name}` | {r.Seed} | {r.BudgetMinutes:G4} min | {r.Epochs} | {r.BestEpoch} | {r.ValidationError:F2}% | {r.TestError:F2}% | {r.Minutes:F1} min | {r.FinishedUtc:yyyy-MM-dd HH:mm} | {r.Commit ?? "–"} | {r.Machine}{(r.Note is null ? "" : $" ({r.Note})")} |");
        md.AppendLine();
        md.AppendLine("Configurations (config.json of each row's latest measurement):");
        md.AppendLine();
        foreach (var e in Experiments)
            if (results.LastOrDefault(r => r.Name == e.Name) is { } r)
                md.AppendLine(CultureInfo.InvariantCulture, $"- `{r.Name}`: `{JsonSerializer.Serialize(JsonSerializer.Deserialize<RunConfig>(r.Config, RunConfig.Json), new JsonSerializerOptions(RunConfig.Json) { WriteIndented = false })}`");
        return md.ToString();
    }
}
