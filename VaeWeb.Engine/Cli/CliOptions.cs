using System.CommandLine;
using Spectre.Console;
using VaeWeb.Engine.Data;

namespace VaeWeb.Engine.Cli;

/// <summary>Options and output helpers shared by the commands.</summary>
static class CliOptions
{
    public static Option<string?> DataDirectory() => new("--data-dir")
    {
        Description = "Folder holding the datasets (default: $VAEWEB_DATA, else the repository's data/ folder).",
    };

    /// <summary>Exit code for bad input: the message says what was wrong and what to do.</summary>
    public const int UsageError = 2, Failure = 1;

    public static int Fail(string message, int code = Failure)
    {
        AnsiConsole.MarkupLineInterpolated($"[red]error:[/] {message}");
        return code;
    }

    public static string DataDirectoryOrDefault(string? dataDirectory) => dataDirectory ?? Datasets.DefaultDirectory();
}
