using VaeWeb.Engine.Data;
using VaeWeb.Engine.Models;
using VaeWeb.Engine.Training;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace VaeWeb.Tests.Engine;

/// <summary>
/// The conv CVAE: the CVAE with the CVAE-GAN's encoder and decoder, the plain model the CVAE-GAN's sample quality is
/// read against (issue 14). Real MNIST subsets.
/// </summary>
public class ConvCvaeTests(ITestOutputHelper output)
{
    static readonly Lazy<(ImageSet Train, ImageSet Test)> Mnist = TestMnist.Loaded;

    [Fact]
    public void Its_networks_are_the_cvae_gans_and_every_label_encodes_as_one_at_a_time()
    {
        _ = Mnist.Value;
        var config = new RunConfig { Model = ModelKind.Cvae, Arch = Architecture.Conv, Latent = 20, Seed = 3 };
        using var scope = NewDisposeScope();
        using var cvae = (Cvae)ModelRegistry.Create(config);
        using var gan = ModelRegistry.Create(config with { Model = ModelKind.CvaeGan });
        // Same encoder and decoder: the CVAE-GAN's parameters are the CVAE's plus its discriminator's.
        var discriminator = gan.named_parameters().Where(p => p.name.StartsWith("features") || p.name.StartsWith("judge")).Sum(p => p.parameter.numel());
        Assert.Equal(cvae.parameters().Sum(p => p.numel()), gan.parameters().Sum(p => p.numel()) - discriminator);

        cvae.eval();
        var x = Mnist.Value.Test.Images.narrow(0, 0, 4).view(4, -1);
        var (mu, logVar) = cvae.EncodeEveryLabel(x);                        // [40, 20], row y·4 + i
        for (int y = 0; y < Cvae.Classes; y++)
        {
            var (mu1, logVar1) = cvae.Encode(x, full(4, y, dtype: ScalarType.Int64));
            Assert.True(mu.narrow(0, 4 * y, 4).allclose(mu1, atol: 1e-5) && logVar.narrow(0, 4 * y, 4).allclose(logVar1, atol: 1e-5), $"label {y}");
        }
        Assert.Throws<ArgumentException>(() => new Cvae(image: new ImageShape(1, 30, 30), convolutional: true));

        // Colour: three image planes beside the ten label planes, a discretized logistic's mean and log-scale per sub-pixel.
        using var colour = new Cvae(latent: 8, image: new ImageShape(3, 32, 32), convolutional: true);
        var pixels = rand(2, 3072);
        var classes = tensor(new long[] { 1, 7 });
        var (reconstruction, kl) = colour.Terms(pixels, classes);
        Assert.Equal([2], reconstruction.shape);
        Assert.True(reconstruction.gt(0).all().item<bool>() && kl.ge(0).all().item<bool>());
        Assert.Equal([2, 3072], colour.Decode(randn(2, 8), classes).shape);
    }

    [Fact]
    public void A_conv_cvae_learns_digits_whose_class_follows_the_label()
    {
        var (train, test) = Mnist.Value;
        var config = new RunConfig
        {
            Model = ModelKind.Cvae, Arch = Architecture.Conv, Latent = 20, Epochs = 6, BatchSize = 50, TrainLimit = 2000, TestLimit = 500, Seed = 1,
            // Its softplus convolutions spend their first few hundred steps on the mean image (as the conv VAE's first
            // epochs do, README): 3e-3 gets the test past that in 240 steps.
            LearningRate = 3e-3,
        };
        var events = new List<TrainingEvent>();
        var folder = TempFolders.Create("vaeweb-conv-cvae-").FullName;
        Trainer.Run(config, train.Take(config.TrainLimit), test.Take(config.TestLimit), folder, events.Add);

        var elbo = events.OfType<EpochReport>().Select(r => r.Test[Metrics.Elbo]).ToList();
        output.WriteLine($"test ELBO per epoch: {string.Join(", ", elbo.Select(e => e.ToString("F1")))}");
        Assert.Equal(6, elbo.Count);
        Assert.True(elbo[^1] > elbo[0], "the bound improves");
        Assert.True(elbo[^1] > -190, $"a conv CVAE on 2,000 digits reaches a bound above −190 nats in 6 epochs (got {elbo[^1]:F1})");

        var (model, _) = new RunFolder(folder).LoadCheckpoint();
        using (model)
        {
            var (label, z) = CvaeGanTests.SampleChanges(model, config.Latent);
            output.WriteLine($"mean pixel change: label 0 → 1 {label:F3}, another z {z:F3}");
            Assert.True(label > 0.05, $"changing only the label changes the digit (mean pixel change {label:F3})");
        }
    }
}
