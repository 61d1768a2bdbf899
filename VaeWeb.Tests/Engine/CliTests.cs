using System.Diagnostics;

namespace VaeWeb.Tests.Engine;

/// <summary>The engine's command line, run as the real program from the test output folder.</summary>
public class CliTests
{
    static (int ExitCode, string Output) Engine(params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "VaeWeb.Engine.dll"));
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(TimeSpan.FromMinutes(2)), "the engine did not exit");
        return (process.ExitCode, stdout.Result + stderr.Result);
    }

    [Theory]
    [InlineData("Epochs must be between 1 and 1000 (got 0)", "train", "--epochs", "0")]
    [InlineData("Each hidden layer must have 1 to 4096 units (got 1000000)", "train", "--hidden", "500", "1000000")]
    [InlineData("Unknown dataset 'cifar'", "train", "--dataset", "cifar")]
    [InlineData("Cannot parse argument 'abc' for option '--epochs'", "train", "--epochs", "abc")]
    [InlineData("Unknown dataset 'svhm'", "data", "svhm")]
    [InlineData("does not exist", "evaluate", "/nonexistent/run")]
    [InlineData("No run to resume", "train", "--resume", "/nonexistent/run")]
    [InlineData("--server must be an http(s) URL", "worker", "--server", "localhost", "--token", "t")]
    [InlineData("Option '--token' is required", "worker", "--server", "http://localhost:5298/")]
    public void Bad_arguments_give_a_clear_error_and_a_nonzero_exit(string message, params string[] args)
    {
        var (exitCode, output) = Engine(args);
        Assert.NotEqual(0, exitCode);
        Assert.Contains(message, output);
    }

    [Fact]
    public void A_second_run_into_the_same_folder_is_refused_and_the_first_runs_metrics_stay_its_own()
    {
        var folder = Directory.CreateTempSubdirectory("vaeweb-cli-run-").FullName;
        string[] train = ["train", "--epochs", "1", "--hidden", "50", "--latent", "5", "--train-limit", "500", "--test-limit", "100", "--output", folder];
        var (first, firstOutput) = Engine(train);
        Assert.True(first == 0, firstOutput);
        var metrics = File.ReadAllText(Path.Combine(folder, "metrics.jsonl"));

        var (second, output) = Engine([.. train[..^2], "--seed", "2", "--output", folder]);
        Assert.NotEqual(0, second);
        Assert.Contains("is not empty: a run starts in an empty folder", System.Text.RegularExpressions.Regex.Replace(output, @"\s+", " "));   // the console wraps lines
        Assert.Equal(metrics, File.ReadAllText(Path.Combine(folder, "metrics.jsonl")));   // nothing appended
    }

    [Fact]
    public void Help_documents_every_command()
    {
        var (exitCode, output) = Engine("--help");
        Assert.Equal(0, exitCode);
        foreach (var command in new[] { "train", "evaluate", "data", "bench" }) Assert.Contains(command, output);
        var (_, trainHelp) = Engine("train", "--help");
        foreach (var option in new[] { "--model", "--arch", "--dataset", "--latent", "--epochs", "--batch", "--lr", "--seed", "--output", "--resume" })
            Assert.Contains(option, trainHelp);
    }
}
