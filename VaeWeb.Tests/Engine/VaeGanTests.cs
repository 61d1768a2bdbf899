using TorchSharp.Modules;
using VaeWeb.Engine.Data;
using VaeWeb.Engine.Models;
using VaeWeb.Engine.Training;
using static TorchSharp.torch;

namespace VaeWeb.Tests.Engine;

/// <summary>VAE-GAN (Larsen et al. 2016) on real MNIST subsets: it learns, and each network learns from its own losses only.</summary>
public class VaeGanTests
{
    static readonly Lazy<(ImageSet Train, ImageSet Test)> Mnist = TestMnist.Loaded;

    internal static RunConfig Small => new()
    {
        Model = ModelKind.VaeGan, Arch = Architecture.Conv, Binarize = Binarization.None, Gamma = 1, Latent = 20,
        Epochs = 1, BatchSize = 50, TrainLimit = 1000, TestLimit = 200, Seed = 1,
    };

    /// <summary>Mean squared pixel error of the reconstructions of <paramref name="test"/>.</summary>
    static double PixelError(GenerativeModel model, ImageSet test)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        model.eval();
        return model.Reconstruct(test.Images, null).sub(test.Images).square().mean().item<float>();
    }

    [Fact]
    public void A_vae_gan_learns_real_digits_with_finite_losses_and_reports_every_metric_its_charts_declare()
    {
        var config = Small;
        var folder = TempFolders.Create("vaeweb-vaegan-").FullName;
        using var test = Mnist.Value.Test.Take(config.TestLimit);
        var events = new List<TrainingEvent>();
        Trainer.Run(config, Mnist.Value.Train.Take(config.TrainLimit), test, folder, events.Add);

        var steps = events.OfType<StepReport>().ToList();
        Assert.Equal(20, steps[^1].Step);                                    // 1,000 digits in batches of 50
        var charts = ModelRegistry.Get(ModelKind.VaeGan).AllCharts;
        var stepMetrics = charts.SelectMany(c => c.Traces).Where(t => t.Scope == "step").Select(t => t.Metric).ToHashSet();
        Assert.Superset(new HashSet<string> { Metrics.Kl, VaeGan.Llike, VaeGan.EncoderLoss, VaeGan.DecoderLoss, Metrics.GeneratorLoss, Metrics.DiscriminatorLoss, Metrics.RealScore, Metrics.FakeScore }, stepMetrics);
        foreach (var step in steps)
        {
            Assert.Equal(stepMetrics, step.Metrics.Keys.ToHashSet());            // every loss it reports is charted, and only those
            Assert.All(step.Metrics, m => Assert.True(double.IsFinite(m.Value), $"step {step.Step}: {m.Key} = {m.Value}"));
            Assert.InRange(step.Metrics[Metrics.RealScore], 0, 1);
            Assert.InRange(step.Metrics[Metrics.FakeScore], 0, 1);
        }
        var epoch = Assert.Single(events.OfType<EpochReport>());
        foreach (var metric in charts.SelectMany(c => c.Traces).Where(t => t.Scope == "test" && t.Metric != VaeWeb.Engine.Quality.SampleQuality.Frechet))
            Assert.True(epoch.Test.TryGetValue(metric.Metric, out var value) && double.IsFinite(value), $"test {metric.Metric} missing or not finite");

        // It learned: the reconstructions of test digits are much closer in pixels than the same network's untrained ones.
        var (trained, _) = new RunFolder(folder).LoadCheckpoint();
        using var untrained = ModelRegistry.Create(config);
        double before = PixelError(untrained, test), after = PixelError(trained, test);
        trained.Dispose();
        Assert.True(after < 0.5 * before, $"pixel error of test reconstructions {before:F4} untrained → {after:F4} after 20 steps");
        Directory.Delete(folder, recursive: true);
    }

    [Fact]
    public void Each_network_gets_the_gradient_of_its_own_losses_only_and_l_llike_none_into_the_discriminator()
    {
        var config = Small;
        using var model = (VaeGan)ModelRegistry.Create(config);
        model.Noise = new Generator(1);
        using var pool = Mnist.Value.Train.Take(100);
        var updates = model.Stages(config, new TrainingData(pool, null, pool, null)).Single().Updates;
        var networks = new Dictionary<string, Parameter[]>
        {
            ["discriminator"] = [.. model.DiscriminatorParameters()], ["encoder"] = [.. model.EncoderParameters()], ["decoder"] = [.. model.DecoderParameters()],
        };
        // The three networks are the whole model, and no parameter belongs to two.
        Assert.Equal(model.parameters().Count(), networks.Values.Sum(n => n.Length));
        Assert.Equal(networks.Values.Sum(n => n.Length), networks.Values.SelectMany(n => n).Select(p => p.Handle).Distinct().Count());
        Assert.Equal(["discriminator", "encoder", "decoder"], updates.Select(u => u.Group));

        var batch = new Batch(pool.Images.narrow(0, 0, 50));
        // Which networks a backward pass left gradient in.
        List<string> Reached(Func<Loss, Tensor> pick, Update update)
        {
            using var scope = NewDisposeScope();
            foreach (var p in model.parameters()) p.grad?.zero_();
            pick(update.Loss(batch)).backward();
            return [.. networks.Where(n => n.Value.Any(p => p.grad is { } g && g.abs().sum().item<float>() > 0)).Select(n => n.Key)];
        }
        foreach (var update in updates)
            Assert.Equal([update.Group], Reached(l => l.Objective, update));
        // L_llike, as the encoder's update computes it through the decoder and Dis_l: it reaches the encoder only.
        var encoder = updates.Single(u => u.Group == "encoder");
        Assert.Equal(["encoder"], Reached(l => l.Terms[VaeGan.Llike], encoder));
        // The decoder's γ·L_llike − L_GAN: the decoder only (the discriminator's layers pass it on, keep none).
        var decoder = updates.Single(u => u.Group == "decoder");
        Assert.Equal(["decoder"], Reached(l => l.Terms[VaeGan.DecoderLoss], decoder));
    }
}
