using TorchSharp.Modules;
using VaeWeb.Engine.Data;
using VaeWeb.Engine.Models;
using VaeWeb.Engine.Training;
using static TorchSharp.torch;

namespace VaeWeb.Tests.Engine;

/// <summary>DRAW-GAN (DRAW, Gregor et al. 2015, with a discriminator on its final canvas) on real MNIST subsets: it learns DRAW's bound, draws in frames, and keeps each network's loss to itself.</summary>
public class DrawGanTests
{
    static readonly Lazy<(ImageSet Train, ImageSet Test)> Mnist = TestMnist.Loaded;

    public DrawGanTests() => _ = Mnist.Value;                              // loads libtorch (with its repair) before any tensor

    static RunConfig Small => new()
    {
        Model = ModelKind.DrawGan, Latent = 8, Hidden = [64], DrawSteps = 6, ReadSize = 3, WriteSize = 5, AdversarialWeight = 1, JudgeReconstructions = true,
        Epochs = 1, BatchSize = 50, TrainLimit = 1000, TestLimit = 200, LearningRate = 3e-3, Seed = 1,
    };

    [Fact]
    public void A_draw_gan_learns_drawn_digits_reports_draws_bound_and_every_charted_metric_and_draws_in_t_frames()
    {
        var config = Small;
        var info = ModelRegistry.Get(ModelKind.DrawGan);
        Assert.True(info.Has(Capability.Frames | Capability.Likelihood | Capability.SeveralOptimizers));
        Assert.True(info.Binarizes);                                        // DRAW's likelihood sees binarized digits, as DRAW's does
        var folder = TempFolders.Create("vaeweb-drawgan-").FullName;
        using var test = Mnist.Value.Test.Take(config.TestLimit);
        var events = new List<TrainingEvent>();
        Trainer.Run(config, Mnist.Value.Train.Take(config.TrainLimit), test, folder, events.Add);

        var steps = events.OfType<StepReport>().ToList();
        Assert.Equal(20, steps[^1].Step);
        var charts = info.AllCharts;
        var stepMetrics = charts.SelectMany(c => c.Traces).Where(t => t.Scope == "step").Select(t => t.Metric).ToHashSet();
        Assert.Superset(new HashSet<string> { Metrics.Elbo, Metrics.Reconstruction, Metrics.Kl, DrawGan.DrawLoss, Metrics.GeneratorLoss, Metrics.DiscriminatorLoss, Metrics.RealScore, Metrics.FakeScore }, stepMetrics);
        foreach (var step in steps)
        {
            Assert.Equal(stepMetrics, step.Metrics.Keys.ToHashSet());
            Assert.All(step.Metrics, m => Assert.True(double.IsFinite(m.Value), $"step {step.Step}: {m.Key} = {m.Value}"));
            Assert.InRange(step.Metrics[Metrics.RealScore], 0, 1);
            Assert.InRange(step.Metrics[Metrics.FakeScore], 0, 1);
        }
        var epoch = Assert.Single(events.OfType<EpochReport>());
        foreach (var metric in charts.SelectMany(c => c.Traces).Where(t => t.Scope == "test" && t.Metric != VaeWeb.Engine.Quality.SampleQuality.Frechet))
            Assert.True(epoch.Test.TryGetValue(metric.Metric, out var value) && double.IsFinite(value), $"test {metric.Metric} missing or not finite");

        // DRAW's test bound, measured as a DRAW run's is: far better than the same networks untrained.
        var (trained, _) = new RunFolder(folder).LoadCheckpoint();
        using (trained)
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            using var untrained = ModelRegistry.Create(config);
            double before = -untrained.Evaluate(test, config.Binarize)[Metrics.Elbo], after = -epoch.Test[Metrics.Elbo];
            Assert.Equal(after, -trained.Evaluate(test, config.Binarize)[Metrics.Elbo], 3);
            Assert.True(after < before - 100, $"test bound {before:F1} untrained → {after:F1} nats after 20 steps");

            // Frames: T canvases in [0, 1], the last one the sample, each step's write window a box.
            trained.eval();
            var z = randn(new long[] { 3, trained.Latent }, generator: new Generator(1));
            var drawing = trained.Frames(z, null);
            Assert.Equal([6L, 3, 784], drawing.Canvases.shape);
            Assert.True(drawing.Canvases[-1].sub(trained.Decode(z, null)).abs().max().item<float>() < 1e-6);
            Assert.InRange(drawing.Canvases.min().item<float>(), 0, 1);
            Assert.InRange(drawing.Canvases.max().item<float>(), 0, 1);
            Assert.Equal([6L, 3, 4], drawing.Writes!.shape);
            var reconstruction = trained.ReconstructionFrames(test.Images.narrow(0, 0, 3), null);
            Assert.Equal([6L, 3, 784], reconstruction.Canvases.shape);
            Assert.Equal([6L, 3, 4], reconstruction.Reads!.shape);
            Assert.Equal([3L, 784], trained.Sample(3, new Generator(2)).shape);
        }
        // The explore page plays its samples' drawing: T frames of the 10x10 grid.
        using (var explored = VaeWeb.Engine.Exploration.TrainedModel.Load(File.ReadAllBytes(new RunFolder(folder).ModelFile), config, epoch: 1))
        {
            var animation = explored.SampleSteps(1, seed: 1);
            Assert.Equal((6, 10, 10), (animation.Steps, animation.Rows, animation.Cols));
        }
        Directory.Delete(folder, recursive: true);
    }

    [Fact]
    public void Each_network_gets_the_gradient_of_its_own_loss_only_and_without_the_gan_term_drawn_trains_as_draw()
    {
        var config = Small;
        using var model = (DrawGan)ModelRegistry.Create(config);
        using var pool = Mnist.Value.Train.Take(100);
        var updates = model.Stages(config, new TrainingData(pool, null, pool, null)).Single().Updates;
        Assert.Equal(["discriminator", "draw"], updates.Select(u => u.Group));
        var networks = new Dictionary<string, Parameter[]> { ["discriminator"] = [.. model.DiscriminatorParameters()], ["draw"] = [.. model.DrawParameters()] };
        Assert.Equal(model.parameters().Count(), networks.Values.Sum(n => n.Length));

        var batch = new Batch(pool.Images.narrow(0, 0, 50));
        List<string> Reached(Func<Loss, Tensor> pick, Update update)
        {
            using var scope = NewDisposeScope();
            foreach (var p in model.parameters()) p.grad?.zero_();
            pick(update.Loss(batch)).backward();
            return [.. networks.Where(n => n.Value.Any(p => p.grad is { } g && g.abs().sum().item<float>() > 0)).Select(n => n.Key)];
        }
        foreach (var update in updates)
            Assert.Equal([update.Group], Reached(l => l.Objective, update));
        Assert.Equal(["draw"], Reached(l => l.Terms[Metrics.GeneratorLoss], updates[1]));   // the GAN term reaches DRAW through D, and stays there

        // With λ = 0, DRAW's update is DRAW's loss on the same binarization: the same objective as a plain DRAW of the same weights.
        using var plain = (DrawGan)ModelRegistry.Create(config with { AdversarialWeight = 0 });
        using var outer = NewDisposeScope();
        plain.Noise = new Generator(5);
        var drawUpdate = plain.Stages(config, new TrainingData(pool, null, pool, null)).Single().Updates[1];
        var withoutGan = drawUpdate.Loss(batch);
        plain.Noise = new Generator(5);
        var draw = plain.Draw.LossAndCanvas(Evaluation.Binarize(batch.X!, Binarization.Dynamic, plain.Noise)).Loss;
        Assert.Equal(draw.Objective.item<float>(), withoutGan.Objective.item<float>(), 3);
    }
}
