using Spectre.Console;
using VaeWeb.Engine.Data;

namespace VaeWeb.Engine.Cli;

/// <summary>`data svhn`: checks each supplied file and says exactly what is wrong with it, and what to do.</summary>
static class SvhnCheck
{
    /// <summary>True when the train and test files verify (the optional extra file is reported, never required).</summary>
    public static bool Run(string folder)
    {
        IReadOnlyList<SvhnFileStatus> statuses = [];
        // Hashing and inflating 250 MB takes seconds: a bar when a person is watching, plain lines otherwise.
        if (AnsiConsole.Profile.Capabilities.Interactive)
            AnsiConsole.Progress().Start(context =>
            {
                var tasks = new Dictionary<string, ProgressTask>();
                statuses = SvhnFiles.CheckAll(folder, progress: (file, done) =>
                {
                    if (!tasks.TryGetValue(file, out var task)) tasks[file] = task = context.AddTask($"checking {file}", maxValue: 1);
                    task.Value = done;
                });
            });
        else
            statuses = SvhnFiles.CheckAll(folder);

        foreach (var status in statuses)
        {
            if (status.State == SvhnFileState.Present) AnsiConsole.MarkupLineInterpolated($"[green]✓[/] svhn: {status.Message}");
            else if (status.State == SvhnFileState.Invalid) CliOptions.Fail($"svhn: {status.Message}");
            else if (status.Spec.Optional) AnsiConsole.MarkupLineInterpolated($"[grey]svhn: {status.Spec.Name} (optional) is not there.[/]");
        }
        var missing = statuses.Where(s => s.State == SvhnFileState.Missing && !s.Spec.Optional).Select(s => s.Spec).ToList();
        if (missing.Count > 0) CliOptions.Fail(SvhnFiles.MissingAdvice(folder, missing));
        return statuses.All(s => s.State == SvhnFileState.Present || s.Spec.Optional && s.State == SvhnFileState.Missing);
    }
}
