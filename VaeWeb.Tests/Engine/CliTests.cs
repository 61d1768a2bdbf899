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
    public void A_diverging_run_fails_with_the_reason_and_says_whether_a_checkpoint_was_kept()
    {
        var folder = Directory.CreateTempSubdirectory("vaeweb-cli-nan-").FullName;
        var (exitCode, output) = Engine("train", "--model", "vae-gan", "--arch", "conv", "--lr", "1", "--epochs", "1", "--train-limit", "500", "--test-limit", "100", "--output", folder);
        var text = System.Text.RegularExpressions.Regex.Replace(output, @"\s+", " ");                    // the console wraps lines
        Assert.True(exitCode == 1, output);
        Assert.Matches(@"error: the run failed\. The loss became (NaN|infinite) at step 1 of epoch 1 \(.+\); try a lower learning rate\. No epoch was completed, so there is no checkpoint\.", text);
        Assert.DoesNotContain("Unhandled exception", output);
        Assert.False(File.Exists(Path.Combine(folder, "model.pt")));
    }

    [Fact]
    public void Reproduce_shows_each_rows_latest_protocol_as_mean_and_spread_over_seeds_and_lists_every_measurement()
    {
        // Five measurements of one row: an old 6-minute one, then two seeds at 15 minutes, seed 1 measured twice.
        var folder = Directory.CreateTempSubdirectory("vaeweb-reproduce-").FullName;
        static string Config(long seed, double minutes) =>
            $$"""{"model":"m2","arch":"conv","labels":1000,"seed":{{seed}},"maxMinutes":{{minutes}}}""";
        static object Measurement(long seed, double minutes, double error, int day) => new
        {
            name = "m2-conv-1000", seed, config = Config(seed, minutes), epochs = 7, bestEpoch = 7, validationError = error, testError = error,
            minutes, budgetMinutes = minutes, finishedUtc = new DateTime(2026, 11, day, 12, 0, 0, DateTimeKind.Utc), machine = "test CPU, 2 cores, 24 GiB", commit = "abc1234",
        };
        object[] measurements = [Measurement(1, 6, 4.22, 20), Measurement(1, 15, 9.99, 21), Measurement(2, 15, 2.50, 22), Measurement(1, 15, 2.30, 23), Measurement(3, 15, 2.70, 24)];
        File.WriteAllText(Path.Combine(folder, "results.json"), System.Text.Json.JsonSerializer.Serialize(measurements));

        var (exitCode, output) = Engine("reproduce", "--table-only", "--output", Path.Combine(folder, "results.md"));
        Assert.True(exitCode == 0, output);
        var table = File.ReadAllText(Path.Combine(folder, "results.md"));
        // The latest of each seed at the latest budget: 2.30, 2.50, 2.70 → mean 2.50, sample std 0.20; two left out.
        Assert.Contains("| M2 (conv classifier) | 1000 | oversampled | 15 min × 2 cores | 1, 2, 3 | 7.0 ± 0.0 | 2.50% ± 0.20 | **2.50% ± 0.20** | – | 2 | 4.80% | – |", table);
        foreach (var error in new[] { "4.22%", "9.99%", "2.30%", "2.50%", "2.70%" })
            Assert.Contains($"| {error} |", table);                           // every measurement is listed, none dropped
        Assert.Equal(5, System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "results.json"))).RootElement.GetArrayLength());
    }

    [Fact]
    public void Help_documents_every_command()
    {
        var (exitCode, output) = Engine("--help");
        Assert.Equal(0, exitCode);
        foreach (var command in new[] { "train", "evaluate", "data", "bench" }) Assert.Contains(command, output);
        var (_, trainHelp) = Engine("train", "--help");
        foreach (var option in new[] { "--model", "--arch", "--dataset", "--latent", "--epochs", "--batch", "--lr", "--seed", "--output", "--resume", "--gamma" })
            Assert.Contains(option, trainHelp);
    }
}
