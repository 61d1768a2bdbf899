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
    [InlineData("The adversarial weight must be in [0, 1000] (got -1)", "train", "--model", "draw-gan", "--adversarial-weight", "-1")]
    [InlineData("The CVAE-GAN (conditional VAE-GAN) has no fc architecture; choose conv", "train", "--model", "cvae-gan")]
    [InlineData("Unknown dataset 'svhm'", "data", "svhm")]
    [InlineData("SVHN (Street View House Numbers) is colour: binarization", "train", "--dataset", "svhn")]
    [InlineData("Coloured MNIST (SVHN stand-in) has 32×32×3 colour images", "train", "--dataset", "mnist-colour", "--model", "draw", "--binarize", "none")]
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
    public void Data_svhn_says_what_is_wrong_with_each_supplied_file_and_exits_nonzero_without_a_stack_trace()
    {
        var data = TempFolders.Create("vaeweb-cli-svhn-").FullName;
        var folder = Path.Combine(data, "svhn");
        string Check()
        {
            var (exitCode, output) = Engine("data", "svhn", "--data-dir", data);
            Assert.NotEqual(0, exitCode);
            Assert.DoesNotContain("   at ", output);                                 // no stack trace
            return System.Text.RegularExpressions.Regex.Replace(output, @"\s+", " ");   // the console wraps lines
        }

        var missing = Check();
        Assert.Contains("SVHN's files are missing: train_32x32.mat and test_32x32.mat", missing);
        Assert.Contains($"put them in {folder}", missing);
        Assert.Contains("http://ufldl.stanford.edu/housenumbers/", missing);

        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "train_32x32.mat"), "<html>Not Found</html>");
        var (planar, labels) = VaeWeb.Tests.Data.MatFileWriter.SvhnLike(40);
        var small = new VaeWeb.Tests.Data.MatFileWriter().SvhnImages(planar, 40).Labels(labels).ToBytes();
        File.WriteAllBytes(Path.Combine(folder, "test_32x32.mat"), small);
        var wrong = Check();
        Assert.Contains("train_32x32.mat: it is not a MATLAB 5 MAT-file", wrong);
        Assert.Contains($"test_32x32.mat: it is {small.Length:N0} bytes, not the official 64,275,384 (40 images, not 26,032): it is not the official file", wrong);
        Assert.DoesNotContain("missing", wrong);

        File.WriteAllBytes(Path.Combine(folder, "test_32x32.mat"), small[..(small.Length / 2)]);
        Assert.Contains($"test_32x32.mat: it is truncated ({small.Length / 2:N0} of 64,275,384 bytes): the download stopped early", Check());
        Directory.Delete(data, recursive: true);
    }

    [Fact]
    public void The_engine_exits_cleanly_while_trainings_still_run_on_thread_pool_threads()
    {
        // exit() destroys libtorch's statics (its global context, hook registries) under trainings still stepping on
        // other threads: a SIGSEGV in libtorch_cpu.so (exit code 139) every time, before the exit stopped them first.
        var (exitCode, output) = Engine("stress", "--parallel", "3", "--images", "2000", "--exit-mid-round");
        Assert.True(exitCode == 0, $"exit code {exitCode}: {output}");
        Assert.Contains("still running", output);
    }

    [Fact]
    public void A_second_run_into_the_same_folder_is_refused_and_the_first_runs_metrics_stay_its_own()
    {
        var folder = TempFolders.Create("vaeweb-cli-run-").FullName;
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
    public void Evaluate_scores_a_conv_m2_checkpoint_as_training_did_and_also_on_grey_levels_and_over_binarizations()
    {
        // The conv classifier has dropout: evaluated in training mode, its error was well above the run's own (6.32% against 4.60%).
        var folder = TempFolders.Create("vaeweb-cli-m2-").FullName;
        var (trained, trainOutput) = Engine("train", "--model", "m2", "--arch", "conv", "--labels", "100", "--epochs", "1", "--train-limit", "2000",
            "--test-limit", "500", "--output", folder);
        Assert.True(trained == 0, trainOutput);
        var epoch = File.ReadLines(Path.Combine(folder, "metrics.jsonl")).Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement)
            .Single(e => e.GetProperty("type").GetString() == "epoch");
        var error = epoch.GetProperty("test").GetProperty("error").GetDouble();

        var (exitCode, output) = Engine("evaluate", folder, "--k", "1", "--test-limit", "500");
        Assert.True(exitCode == 0, output);
        var text = System.Text.RegularExpressions.Regex.Replace(output, @"\s+", " ");                    // the console wraps lines
        Assert.Contains($"test: error {error:F2}", text);
        Assert.Matches(@"test error on the grey levels: \d+\.\d\d%; with q\(y\|x\) averaged over 16 binarizations of each image: \d+\.\d\d%", text);
    }

    [Fact]
    public void A_diverging_run_fails_with_the_reason_and_says_whether_a_checkpoint_was_kept()
    {
        var folder = TempFolders.Create("vaeweb-cli-nan-").FullName;
        var (exitCode, output) = Engine("train", "--model", "vae-gan", "--arch", "conv", "--lr", "1", "--epochs", "1", "--train-limit", "500", "--test-limit", "100", "--output", folder);
        var text = System.Text.RegularExpressions.Regex.Replace(output, @"\s+", " ");                    // the console wraps lines
        Assert.True(exitCode == 1, output);
        // The issue's bar: failed within the first epoch (step 2 of 5 here since the conv networks are ReLU; step 1 with softplus).
        Assert.Matches(@"error: the run failed\. The loss became (NaN|infinite) at step \d of epoch 1 \(.+\); try a lower learning rate\. No epoch was completed, so there is no checkpoint\.", text);
        Assert.DoesNotContain("Unhandled exception", output);
        Assert.False(File.Exists(Path.Combine(folder, "model.pt")));
    }

    [Fact]
    public void Reproduce_shows_each_rows_latest_protocol_as_mean_and_spread_over_seeds_and_lists_every_measurement()
    {
        // Five measurements of one row: an old 6-minute one, then two seeds at 15 minutes, seed 1 measured twice. Seed 3
        // was recorded after a config field was added (at its default): the same protocol as the seeds recorded before.
        var folder = TempFolders.Create("vaeweb-reproduce-").FullName;
        static string Config(long seed, double minutes) => seed == 3
            ? $$"""{"model":"m2","arch":"conv","labels":1000,"seed":{{seed}},"maxMinutes":{{minutes}},"decayLearningRate":false}"""
            : $$"""{"model":"m2","arch":"conv","labels":1000,"seed":{{seed}},"maxMinutes":{{minutes}}}""";
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
    public void Reproduce_records_a_finished_run_as_a_curve_only_when_its_config_is_the_rows_and_tables_each_rows_latest_curve()
    {
        var folder = TempFolders.Create("vaeweb-curves-").FullName;
        var table = Path.Combine(folder, "results.md");
        // A real run, but not the row's configuration (a 2-step DRAW on 300 images): refused, nothing recorded.
        var run = Path.Combine(folder, "run");
        var (trained, trainOutput) = Engine("train", "--model", "draw", "--draw-steps", "2", "--latent", "4", "--hidden", "16", "--epochs", "2",
            "--train-limit", "300", "--test-limit", "100", "--output", run);
        Assert.True(trained == 0, trainOutput);
        var (refused, refusal) = Engine("reproduce", "--only", "draw-t16-attention", "--record", run, "--output", table);
        Assert.NotEqual(0, refused);
        Assert.Contains("is not draw-t16-attention", System.Text.RegularExpressions.Regex.Replace(refusal, @"\s+", " "));
        Assert.False(File.Exists(Path.Combine(folder, "results-curves.json")));

        // Two measurements of a row, as reproduce stores them: the table shows the latest, the bound at each 15 minutes.
        static object Curve(string note, double last, int day) => new
        {
            name = "draw-t16-attention", seed = 1, config = """{"model":"draw","drawSteps":16,"seed":1}""", budgetMinutes = 90.0,
            points = new[] { new { epoch = 1, minutes = 2.5, testBound = 143.1 }, new { epoch = 2, minutes = 14.9, testBound = 120.0 }, new { epoch = 3, minutes = 31.0, testBound = last } },
            finishedUtc = new DateTime(2026, 11, day, 12, 0, 0, DateTimeKind.Utc), machine = "test CPU, 1 core, 24 GiB", commit = "abc1234", note,
        };
        File.WriteAllText(Path.Combine(folder, "results-curves.json"), System.Text.Json.JsonSerializer.Serialize(new[] { Curve("first", 99.5, 20), Curve("second", 94.25, 21) }));
        var (exitCode, output) = Engine("reproduce", "--table-only", "--output", table);
        Assert.True(exitCode == 0, output);
        var text = File.ReadAllText(table);
        Assert.Contains("| DRAW, T = 16, attention (read 5x5, write 5x5) | 1 | 90 min × 1 core | 3 | 120.00 | 120.00 | 94.25 | 94.25 | 94.25 | 94.25 | **94.25** | 31.0 min | 80.97 (T = 64, read 2x2) | 2 |", text);
        Assert.Contains("3: (31.0, 99.50)", text);                                       // the earlier measurement is listed too
    }

    [Fact]
    public void Reproduce_tables_sample_quality_with_the_ratio_to_the_reference_row_over_the_seeds_both_have()
    {
        var folder = TempFolders.Create("vaeweb-quality-").FullName;
        static object Quality(string name, long seed, double frechet, double confident, int day) => new
        {
            name, seed, config = $$"""{"model":"{{(name.StartsWith("vae-gan") ? "vae-gan" : "vae")}}","arch":"conv","seed":{{seed}},"maxMinutes":10}""",
            epochs = 4, frechet, confidence = 0.9, confident, minutes = 10.2, budgetMinutes = 10.0,
            finishedUtc = new DateTime(2026, 11, day, 12, 0, 0, DateTimeKind.Utc), machine = "test CPU, 1 core, 24 GiB", commit = "abc1234",
            samples = seed == 1 ? $"quality-samples/{name}-seed1.png" : null,
        };
        // The VAE at seeds 1 and 2, the VAE-GAN at 1, 2 and 3: the ratio is over seeds 1 and 2 (0.4 and 0.6).
        object[] measurements =
        [
            Quality("conv-vae-quality", 1, 100, 50, 20), Quality("conv-vae-quality", 2, 50, 60, 20),
            Quality("vae-gan-quality", 1, 40, 85, 21), Quality("vae-gan-quality", 2, 30, 90, 21), Quality("vae-gan-quality", 3, 35, 70, 21),
        ];
        File.WriteAllText(Path.Combine(folder, "results-quality.json"), System.Text.Json.JsonSerializer.Serialize(measurements));

        var (exitCode, output) = Engine("reproduce", "--table-only", "--output", Path.Combine(folder, "results.md"));
        Assert.True(exitCode == 0, output);
        var table = File.ReadAllText(Path.Combine(folder, "results.md"));
        Assert.Contains("| conv VAE, grey levels | 10 min × 1 core | 1, 2 | 4.0 ± 0.0 | **75.0 ± 35.4** | – |", table);
        Assert.Contains("| **35.0 ± 5.0** | 0.50× ± 0.14 (2 seeds, vs conv-vae-quality) | 0.900 ± 0.000 | 81.7% ± 10.4 | 2 of 3 |", table);
        Assert.Equal(5, System.Text.RegularExpressions.Regex.Matches(table, "quality`, seed").Count);   // every measurement listed
        // Seed 1's sample grids side by side, under their rows' names.
        Assert.Contains("| ![conv VAE, grey levels](quality-samples/conv-vae-quality-seed1.png) | ![VAE-GAN, γ 1 (the conv VAE's encoder and decoder)](quality-samples/vae-gan-quality-seed1.png) |", table);
    }

    [Fact]
    public void Train_runs_the_ssl_gan_by_its_registry_name_and_reproduce_knows_its_rows()
    {
        var folder = TempFolders.Create("vaeweb-cli-sslgan-").FullName;
        var (exitCode, output) = Engine("train", "--model", "ssl-gan", "--labels", "100", "--latent", "100", "--lr", "0.003", "--epochs", "1",
            "--train-limit", "500", "--test-limit", "100", "--output", folder);
        Assert.True(exitCode == 0, output);
        Assert.Contains("test error:", output);
        Assert.Contains("\"feature-matching\"", File.ReadAllText(Path.Combine(folder, "metrics.jsonl")));

        var table = Path.Combine(TempFolders.Create("vaeweb-reproduce-sslgan-").FullName, "results.md");
        var (known, knownOutput) = Engine("reproduce", "--only", "ssl-gan-100", "ssl-gan-600", "ssl-gan-1000", "--table-only", "--output", table);
        Assert.True(known == 0, knownOutput);
    }

    [Fact]
    public void Reproduces_svhn_rows_are_listed_as_not_run_while_the_files_are_absent_and_the_ssl_gan_row_as_not_supported()
    {
        var data = TempFolders.Create("vaeweb-reproduce-nosvhn-data-").FullName;        // no svhn/ in it
        var table = Path.Combine(TempFolders.Create("vaeweb-reproduce-svhn-").FullName, "results.md");
        var (exitCode, output) = Engine("reproduce", "--only", "m2-conv-svhn-1000", "ssl-gan-svhn-1000", "--output", table, "--data-dir", data);
        Assert.True(exitCode == 0, output);
        var said = System.Text.RegularExpressions.Regex.Replace(output, @"\s+", " ");
        Assert.Contains($"m2-conv-svhn-1000: not run: files absent (put SVHN's train_32x32.mat and test_32x32.mat in {Path.Combine(data, "svhn")}", said);
        Assert.Contains("ssl-gan-svhn-1000: not run: not supported (the SSL-GAN here is the released MNIST code's FC networks", said);
        Assert.Contains("0 + 0 + 0 measurements", said);                                         // nothing was trained
        Assert.False(Directory.Exists(Path.Combine("runs", "reproduce")) && Directory.EnumerateDirectories(Path.Combine("runs", "reproduce"), "m2-conv-svhn-1000-*").Any());

        var markdown = File.ReadAllText(table);
        Assert.Contains("# Semi-supervised SVHN (1000 labels)", markdown);
        Assert.Contains("| M2 (conv classifier, discretized logistic likelihood), α = 50 (`m2-conv-svhn-1000`) | 1000 | 60 min | – | – | – | – | not run: files absent | no published conv M2; for scale Kingma et al. M1+M2 (FC on PCA features): 36.02% |", markdown);
        Assert.Contains("| SSL-GAN, feature matching (`ssl-gan-svhn-1000`) | 1000 | 60 min | – | – | – | – | not run: not supported (", markdown);
        Assert.Contains("| Salimans et al. (conv networks): 8.11% |", markdown);
    }

    [Fact]
    public void Help_documents_every_command()
    {
        var (exitCode, output) = Engine("--help");
        Assert.Equal(0, exitCode);
        foreach (var command in new[] { "train", "evaluate", "data", "bench" }) Assert.Contains(command, output);
        var (_, trainHelp) = Engine("train", "--help");
        foreach (var option in new[] { "--model", "--arch", "--dataset", "--latent", "--epochs", "--batch", "--lr", "--seed", "--output", "--resume", "--gamma", "--adversarial-weight", "--judge-reconstructions" })
            Assert.Contains(option, trainHelp);
        Assert.Contains("cvae-gan", trainHelp);                              // --model lists every registered model
        Assert.Contains("draw-gan", trainHelp);
    }
}
