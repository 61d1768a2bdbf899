using System.CommandLine;
using System.Diagnostics;
using System.Text;
using VaeWeb.Engine.Training;

namespace VaeWeb.Engine.Cli;

/// <summary>
/// `stress resume`: the same small run, trained by a separate `train` process that is killed with SIGKILL (kill -9)
/// at a random moment of its training, then continued with `train --resume`, again and again. Every run must end with
/// metrics.jsonl and model.pt equal to those of the same run uninterrupted: no step lost, none written twice.
/// </summary>
static class ResumeStressCommand
{
    public static Command Create()
    {
        var kills = new Option<int>("--kills") { Description = "Runs, each killed once at a random moment and resumed.", DefaultValueFactory = _ => 20 };
        var model = new Option<string>("--model") { Description = "The model of the runs.", DefaultValueFactory = _ => ModelKind.Vae };
        var epochs = new Option<int>("--epochs") { Description = "Epochs per run.", DefaultValueFactory = _ => 5 };
        var images = new Option<int>("--images") { Description = "Training images per run.", DefaultValueFactory = _ => 5000 };
        var seed = new Option<int>("--seed") { Description = "Seed of the kill moments.", DefaultValueFactory = _ => 1 };
        var dataDir = CliOptions.DataDirectory();
        kills.Validators.Add(r => { if (r.GetValueOrDefault<int>() is < 1 or > 1000) r.AddError("--kills must be between 1 and 1000."); });
        var command = new Command("resume", "Kill -9 a `train` process at random moments, resume each run with `train --resume`, and check that every run ends as the uninterrupted one.")
        {
            kills, model, epochs, images, seed, dataDir,
        };
        command.SetAction(parse =>
        {
            string[] train = ["--model", parse.GetValue(model)!, "--epochs", $"{parse.GetValue(epochs)}", "--train-limit", $"{parse.GetValue(images)}",
                "--test-limit", "1000", "--hidden", "200", "200", "--latent", "20", "--labels", "100", "--m1-epochs", "1", "--seed", "7",
                .. parse.GetValue(dataDir) is { } data ? new[] { "--data-dir", data } : []];
            return Run(train, parse.GetValue(kills), new Random(parse.GetValue(seed)));
        });
        return command;
    }

    static int Run(string[] train, int kills, Random random)
    {
        var root = Directory.CreateTempSubdirectory("vaeweb-stress-resume-").FullName;
        Console.WriteLine($"stress resume: run folders in {root}; train {string.Join(" ", train)}");
        var reference = Path.Combine(root, "uninterrupted");
        var training = Child([.. train, "-o", reference], kill: null).Training;
        var expected = new RunFolder(reference);
        Console.WriteLine($"uninterrupted: {expected.ComputedMetrics().Count} metric lines, {training.TotalSeconds:F1} s of training (from config.json to exit)");

        int complete = 0, equal = 0;
        long lost = 0, repeated = 0;
        var clock = Stopwatch.StartNew();
        for (int i = 1; i <= kills; i++)
        {
            var folder = new RunFolder(Path.Combine(root, $"run-{i:D2}"));
            // Uniform over the training, from when the run folder holds its config (before it, there is no run to resume).
            var moment = training * random.NextDouble();
            var killed = Child([.. train, "-o", folder.Path], moment).Killed;
            var saved = folder.ResumeEpochs().DefaultIfEmpty(0).Max();
            var linesAtKill = File.Exists(folder.MetricsFile) ? File.ReadLines(folder.MetricsFile).Count() : 0;
            var resumed = Child(["--resume", folder.Path, .. train.SkipWhile(a => a != "--data-dir")], kill: null);
            var (runLost, runRepeated, same) = Compare(expected, folder);
            if (resumed.ExitCode == 0) complete++;
            if (same) equal++;
            (lost, repeated) = (lost + runLost, repeated + runRepeated);
            Console.WriteLine($"run {i,2}: {(killed ? $"killed -9 at {moment.TotalSeconds,5:F2} s" : "finished before its kill")} " +
                $"(epoch {saved} saved, {linesAtKill} metric lines) → resumed: exit {resumed.ExitCode}, {runLost} lost, {runRepeated} repeated, " +
                (same ? "metrics and weights equal to the uninterrupted run" : "DIFFERS from the uninterrupted run"));
            if (resumed.ExitCode != 0) Console.WriteLine(resumed.Output);
        }
        Console.WriteLine($"stress resume: {complete}/{kills} runs killed and resumed completed, {equal}/{kills} equal to the uninterrupted run, " +
            $"{lost} metric points lost, {repeated} repeated, in {clock.Elapsed.TotalMinutes:F1} min");
        var ok = complete == kills && equal == kills && lost == 0 && repeated == 0;
        if (ok) Directory.Delete(root, recursive: true);
        return ok ? 0 : CliOptions.Failure;
    }

    /// <summary>Points (type, epoch, step) of the reference missing from the run, points the run has twice, and whether all its numbers and weights match.</summary>
    static (long Lost, long Repeated, bool Same) Compare(RunFolder expected, RunFolder actual)
    {
        var want = expected.ComputedMetrics();
        var got = File.Exists(actual.MetricsFile) ? actual.ComputedMetrics() : [];
        static string Key(string line) => System.Text.Json.Nodes.JsonNode.Parse(line) is { } n ? $"{n["type"]} {n["epoch"]} {n["step"]}" : line;
        var keys = got.Select(Key).ToList();
        long lost = want.Select(Key).Except(keys).Count(), repeated = keys.Count - keys.Distinct().Count();
        var same = want.SequenceEqual(got) && File.Exists(actual.ModelFile)
            && File.ReadAllBytes(expected.ModelFile).AsSpan().SequenceEqual(File.ReadAllBytes(actual.ModelFile));
        return (lost, repeated, same);
    }

    sealed record ChildRun(int ExitCode, bool Killed, TimeSpan Training, string Output);

    /// <summary>
    /// Runs `train` with <paramref name="arguments"/> in a new process of this program; with <paramref name="kill"/>,
    /// kills it with SIGKILL that long after its run folder has its config.json.
    /// </summary>
    static ChildRun Child(string[] arguments, TimeSpan? kill)
    {
        var start = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true, RedirectStandardError = true };
        // Under `dotnet VaeWeb.Engine.dll` the process is dotnet: the program is its first argument.
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet") start.ArgumentList.Add(typeof(ResumeStressCommand).Assembly.Location);
        foreach (var a in (string[])["train", .. arguments]) start.ArgumentList.Add(a);
        var output = new StringBuilder();
        using var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var folder = arguments[Array.IndexOf(arguments, arguments.Contains("-o") ? "-o" : "--resume") + 1];
        while (!File.Exists(Path.Combine(folder, "config.json")) && !process.HasExited) Thread.Sleep(5);
        var training = Stopwatch.StartNew();
        bool killed = false;
        if (kill is { } after && !process.WaitForExit(after))
        {
            process.Kill();                                                  // SIGKILL on Linux: no handler, no flush
            killed = true;
        }
        process.WaitForExit();
        lock (output) return new ChildRun(process.ExitCode, killed, training.Elapsed, output.ToString());
    }
}
