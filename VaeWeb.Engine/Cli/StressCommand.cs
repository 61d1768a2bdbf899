using System.CommandLine;
using System.Diagnostics;
using VaeWeb.Engine.Data;
using VaeWeb.Engine.Native;
using VaeWeb.Engine.Training;

namespace VaeWeb.Engine.Cli;

/// <summary>
/// Parallel trainings in one process, as the server runs them, round after round, with a thread forcing garbage
/// collections throughout: a native crash (a Scalar or tensor freed while libtorch uses it) ends the process here
/// rather than once in a while in production. Every round also checks that a run trained beside others gives exactly
/// the numbers it gave in the first round (each run draws from its own generator).
/// </summary>
static class StressCommand
{
    public static Command Create()
    {
        var parallel = new Option<int>("--parallel") { Description = "Trainings at once.", DefaultValueFactory = _ => 4 };
        var rounds = new Option<int>("--rounds") { Description = "How many times.", DefaultValueFactory = _ => 20 };
        var images = new Option<int>("--images") { Description = "Training images per run.", DefaultValueFactory = _ => 3000 };
        var gc = new Option<bool>("--no-gc-pressure") { Description = "Do not force garbage collections while training." };
        var exitMidRound = new Option<bool>("--exit-mid-round")
        {
            Description = "End the process a second into round 1, its trainings still running: the exit must stop them, not crash in libtorch.",
        };
        var dataDir = CliOptions.DataDirectory();
        parallel.Validators.Add(r => { if (r.GetValueOrDefault<int>() is < 1 or > 64) r.AddError("--parallel must be between 1 and 64."); });
        rounds.Validators.Add(r => { if (r.GetValueOrDefault<int>() is < 1 or > 10_000) r.AddError("--rounds must be between 1 and 10000."); });
        var command = new Command("stress", "Train several small models in parallel in one process, repeatedly, under GC pressure; report crashes and irreproducible runs.")
        {
            parallel, rounds, images, gc, exitMidRound, dataDir,
        };
        command.Subcommands.Add(ResumeStressCommand.Create());
        command.SetAction(parse =>
        {
            TorchRuntime.EnsureInitialized();
            using var data = new DatasetCache(parse.GetValue(dataDir));
            return Run(data, parse.GetValue(parallel), parse.GetValue(rounds), parse.GetValue(images), !parse.GetValue(gc), parse.GetValue(exitMidRound));
        });
        return command;
    }

    /// <summary>Small runs of every model, conv M2 (dropout) included; run i of every round has the same config.</summary>
    static RunConfig ConfigFor(int i, int images) => (i % 5) switch
    {
        0 => new RunConfig { Model = ModelKind.Vae },
        1 => new RunConfig { Model = ModelKind.M2, Arch = Architecture.Conv, Labels = 100 },
        2 => new RunConfig { Model = ModelKind.Cvae, LearnedPrior = true },
        3 => new RunConfig { Model = ModelKind.M2, Labels = 100 },
        _ => new RunConfig { Model = ModelKind.M1M2, Labels = 100, M1Epochs = 1 },
    } with { Epochs = 1, TrainLimit = images, TestLimit = 500, Hidden = [200, 200], Latent = 20, Seed = 10 + i };

    static int Run(DatasetCache data, int parallel, int rounds, int images, bool gcPressure, bool exitMidRound)
    {
        data.Get("mnist");
        using var stop = new CancellationTokenSource();
        long collections = 0;
        var pressure = gcPressure ? Task.Run(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
                collections++;
                Thread.Sleep(1);
            }
        }) : Task.CompletedTask;
        var first = new Dictionary<int, string>();
        int irreproducible = 0;
        var clock = Stopwatch.StartNew();
        for (int round = 1; round <= rounds; round++)
        {
            var roundClock = Stopwatch.StartNew();
            var results = Enumerable.Range(0, parallel)
                .Select(i => Task.Run(() => Trainer.Run(ConfigFor(i, images), data)))
                .ToArray();
            if (exitMidRound)
            {
                // Environment.Exit, as a test host whose runner has gone does: no `using` here runs (the datasets stay
                // loaded), but exit() runs libtorch's static destructors under the trainings (see NativeWork).
                Thread.Sleep(1000);
                Console.WriteLine($"stress: exiting with {results.Count(t => !t.IsCompleted)} training(s) still running");
                Environment.Exit(0);
            }
            Task.WaitAll(results);
            var line = new List<string>();
            for (int i = 0; i < parallel; i++)
            {
                var r = results[i].Result;
                var final = string.Join(" ", r.FinalTest.OrderBy(kv => kv.Key).Select(kv => $"{kv.Key}={kv.Value:R}"));
                if (!first.TryAdd(i, final) && first[i] != final)
                {
                    irreproducible++;
                    Console.WriteLine($"  run {i} ({r.Config.Model}) differs from round 1: {final} vs {first[i]}");
                }
                line.Add($"{r.Config.Model}{(r.Config.Arch == Architecture.Conv ? "-conv" : "")} {Headline(r.FinalTest)}");
            }
            Console.WriteLine($"round {round,3}/{rounds}: {parallel} trainings in {roundClock.Elapsed.TotalSeconds:F1} s · {string.Join(" · ", line)}");
        }
        stop.Cancel();
        pressure.Wait();
        Console.WriteLine($"stress: {rounds} rounds × {parallel} parallel trainings in {clock.Elapsed.TotalMinutes:F1} min, " +
            $"{collections:N0} forced garbage collections, no native crash; {irreproducible} run(s) differed from their first round");
        return irreproducible == 0 ? 0 : CliOptions.Failure;
    }

    static string Headline(IReadOnlyDictionary<string, double> test) =>
        test.TryGetValue(Metrics.Error, out var error) ? $"error {error:F1}%" : $"ELBO {test[Metrics.Elbo]:F1}";
}
