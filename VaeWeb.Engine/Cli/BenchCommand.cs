using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using Spectre.Console;
using VaeWeb.Engine.Models;
using VaeWeb.Engine.Native;
using VaeWeb.Engine.Training;
using static TorchSharp.torch;

namespace VaeWeb.Engine.Cli;

/// <summary>
/// Training throughput of each model against the machine's own limit: the fp32 matrix-multiply peak measured in the
/// same run (these dense models are matmul-bound, so GFLOP/s over peak says how much of the machine a step uses).
/// </summary>
static class BenchCommand
{
    /// <summary>One model's median over the rounds; <paramref name="RoundImagesPerSecond"/> keeps every round for judging the noise.</summary>
    /// <summary><paramref name="MemoryGrowthMb"/>: the largest growth of the process's resident memory over one round's timed steps (a leak shows here).</summary>
    public sealed record ModelResult(string Name, int Batch, double ImagesPerSecond, double MflopPerImage, double Gflops, double FractionOfPeak,
        double[] RoundImagesPerSecond, double MemoryGrowthMb);
    /// <summary>The engine's step over the plain loop's, of the same model: the FC VAE's and DRAW's.</summary>
    public sealed record BenchResult(double PeakGflops, int Threads, IReadOnlyList<ModelResult> Models, double SpeedupOverPlainLoop, double DrawSpeedupOverPlainLoop);

    public static Command Create()
    {
        var batch = new Option<int>("--batch") { Description = "Images per training step.", DefaultValueFactory = _ => 100 };
        var steps = new Option<int>("--steps") { Description = "Timed steps per model (after 20 warm-up steps); DRAW, far slower a step, a tenth of them.", DefaultValueFactory = _ => 200 };
        var json = new Option<FileInfo?>("--json") { Description = "Also write the results as JSON to this file." };
        batch.Validators.Add(r => { if (r.GetValueOrDefault<int>() is < 1 or > 4096) r.AddError("--batch must be between 1 and 4096."); });
        steps.Validators.Add(r => { if (r.GetValueOrDefault<int>() is < 10 or > 100_000) r.AddError("--steps must be between 10 and 100000."); });
        var command = new Command("bench", "Measure training images/second, FLOPs per image and the share of this machine's fp32 matmul peak.")
        {
            batch, steps, json,
        };
        command.SetAction(parse =>
        {
            TorchRuntime.EnsureInitialized();
            var result = Run(parse.GetValue(batch), parse.GetValue(steps));
            Print(result);
            var text = JsonSerializer.Serialize(result, RunConfig.Json);
            Console.WriteLine(text);
            if (parse.GetValue(json) is { } file) File.WriteAllText(file.FullName, text);
            return 0;
        });
        return command;
    }

    public static BenchResult Run(int batch, int steps)
    {
        var peak = MatmulPeakGflops();
        using var generator = new Generator(7);
        using var images = rand(new long[] { 4000, 784 }, generator: generator);   // pixel values don't change the work done
        var config = new RunConfig { BatchSize = batch };
        // Each model is timed in several rounds, interleaved with the others, and the median round is kept: a
        // background burst on a shared 2-core machine then skews one round, not one model.
        const int rounds = 3;
        // DRAW as the paper's MNIST model (256-unit LSTMs, z_t of 100, read 2x2, write 5x5) but with 16 steps, not 64.
        // A step of it is some 12x the FC VAE's FLOPs and 15-20x its time, so it is timed over a tenth of the steps
        // (at least 10): a round still takes seconds, not minutes.
        Draw NewDraw() => new(zSize: 100, hidden: 256, steps: 16);
        var models = new (string Name, Func<GenerativeModel> Create, Func<GenerativeModel, Action<Tensor>> MakeStep, int StepsDivisor)[]
        {
            ("FC VAE 784-500-500-50", () => new Vae(), m => EngineStep(m, config), 1),
            ("Conv VAE", () => new ConvVae(), m => EngineStep(m, config), 1),
            ("FC VAE, plain TorchSharp loop (reference)", () => new Vae(), m => PlainStep(m, config, VaeObjective((Vae)m)), 1),
            ("DRAW, T = 16, LSTMs 256, attention 2x2 / 5x5", NewDraw, m => EngineStep(m, config), 10),
            ("DRAW, plain TorchSharp loop (reference)", NewDraw, m => PlainStep(m, config, x => m.Loss(new Batch(x)).Objective), 10),
            // The semi-supervised step of the results table's conv rows: a batch of unlabeled images (the bound summed
            // over all ten labels) and, labels oversampled, as many labeled ones. Images/s counts the unlabeled ones.
            ("M2, conv classifier, 100 unlabeled + 100 labeled a step", () => new M2(convolutional: true), m => SemiSupervisedStep(m, config), 1),
        };
        var perSecond = models.Select(_ => new List<double>()).ToArray();
        var growth = new double[models.Length];
        var flops = new long[models.Length];
        AnsiConsole.Progress().Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new RemainingTimeColumn()).Start(context =>
        {
            var task = context.AddTask("benchmarking", maxValue: rounds * models.Length);
            for (int round = 0; round < rounds; round++)
                for (int i = 0; i < models.Length; i++)
                {
                    task.Description = models[i].Name;
                    manual_seed(1);
                    using var model = models[i].Create();
                    var step = models[i].MakeStep(model);
                    int timed = Math.Max(10, steps / models[i].StepsDivisor);
                    Time(step, images, batch, Math.Max(2, 20 / models[i].StepsDivisor));   // warm-up: allocator, caches
                    var before = ResidentMegabytes();
                    perSecond[i].Add(timed * batch / Time(step, images, batch, timed));
                    growth[i] = Math.Max(growth[i], ResidentMegabytes() - before);
                    flops[i] = model.TrainingFlopsPerImage;
                    task.Increment(1);
                }
        });
        var results = models.Select((m, i) =>
        {
            var median = perSecond[i].Order().ElementAt(rounds / 2);
            var gflops = median * flops[i] / 1e9;
            return new ModelResult(m.Name, batch, median, flops[i] / 1e6, gflops, gflops / peak, [.. perSecond[i]], growth[i]);
        }).ToList();
        return new BenchResult(peak, get_num_threads(), results, results[0].ImagesPerSecond / results[2].ImagesPerSecond,
            results[3].ImagesPerSecond / results[4].ImagesPerSecond);
    }

    static double ResidentMegabytes()
    {
        using var process = Process.GetCurrentProcess();
        return process.WorkingSet64 / 1048576.0;
    }

    /// <summary>The trainer's own step: dynamic binarization, then the model's updates through <see cref="Trainer.Updater"/>.</summary>
    static Action<Tensor> EngineStep(GenerativeModel model, RunConfig config)
    {
        var generator = new Generator(1);
        model.Noise = generator;
        var updater = new Trainer.Updater([new Update("model", model.parameters(), config.LearningRate, model.Loss)]);
        return images => updater.Step(new Batch(Evaluation.Binarize(images, config.Binarize, generator)));
    }

    /// <summary>M2's step as the trainer takes it with labels oversampled: the batch serves as both halves.</summary>
    static Action<Tensor> SemiSupervisedStep(GenerativeModel model, RunConfig config)
    {
        var generator = new Generator(1);
        model.Noise = generator;
        var labels = arange(config.BatchSize).remainder_(10);                 // [B]; the work does not depend on them
        var updater = new Trainer.Updater([new Update("model", model.parameters(), config.LearningRate, model.Loss)]);
        return images =>
        {
            var x = Evaluation.Binarize(images, config.Binarize, generator);
            updater.Step(new Batch(x, LabeledX: x, LabeledY: labels));
        };
    }

    /// <summary>
    /// What a first TorchSharp port of pytorch/examples' VAE does: torch.optim.Adam and bernoulli(), the objective
    /// (per image, drawing from the global generator as the port would) built from the model's own forward.
    /// </summary>
    static Action<Tensor> PlainStep(GenerativeModel model, RunConfig config, Func<Tensor, Tensor> objective)
    {
        var optimizer = optim.Adam(model.parameters(), config.LearningRate);
        return images =>
        {
            using var scope = NewDisposeScope();
            var loss = objective(bernoulli(images));
            optimizer.zero_grad();
            loss.backward();
            optimizer.step();
            loss.item<float>();
        };
    }

    /// <summary>The port's VAE objective: its forward, then the ELBO's two terms, per image.</summary>
    static Func<Tensor, Tensor> VaeObjective(Vae model) => x =>
    {
        var (logits, mu, logVar) = model.forward(x);
        var (reconstruction, kl) = VariationalAutoencoder.Loss(logits, x, mu, logVar);
        return reconstruction.Plus(kl).div(Scalars.Of(x.shape[0]));
    };

    static double Time(Action<Tensor> step, Tensor images, int batch, int steps)
    {
        long n = images.shape[0];
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < steps; i++)
        {
            using var scope = NewDisposeScope();
            step(images.narrow(0, i * (long)batch % (n - batch + 1), batch));
        }
        return clock.Elapsed.TotalSeconds;
    }

    /// <summary>Best fp32 GFLOP/s of square matrix products (n = 512 … 1024) on all of libtorch's threads.</summary>
    public static double MatmulPeakGflops()
    {
        double best = 0;
        foreach (var n in new[] { 512, 768, 1024 })
        {
            using var a = randn(n, n);
            using var b = randn(n, n);
            using var c = empty(n, n);
            int reps = (int)(2e10 / (2.0 * n * n * n)) + 1;                 // ~20 GFLOP per size
            for (int i = 0; i < 3; i++) matmul(a, b).Dispose();
            for (int trial = 0; trial < 3; trial++)
            {
                var clock = Stopwatch.StartNew();
                for (int i = 0; i < reps; i++) matmul(a, b).Dispose();
                best = Math.Max(best, reps * 2.0 * n * n * n / clock.Elapsed.TotalSeconds / 1e9);
            }
        }
        return best;
    }

    static void Print(BenchResult r)
    {
        var table = new Table().AddColumns("model", "batch", "images/s", "MFLOP/image", "GFLOP/s", "% of peak", "memory growth");
        foreach (var m in r.Models)
            table.AddRow(m.Name, $"{m.Batch}", $"{m.ImagesPerSecond:N0}", m.MflopPerImage > 0 ? $"{m.MflopPerImage:F2}" : "–",
                m.MflopPerImage > 0 ? $"{m.Gflops:F1}" : "–", m.MflopPerImage > 0 ? $"{m.FractionOfPeak:P1}" : "–", $"{m.MemoryGrowthMb:F0} MB");
        table.Caption($"fp32 matmul peak measured in this run: {r.PeakGflops:F1} GFLOP/s on {r.Threads} threads; engine step vs plain loop: FC VAE {r.SpeedupOverPlainLoop:F2}x, DRAW {r.DrawSpeedupOverPlainLoop:F2}x");
        AnsiConsole.Write(table);
    }
}
