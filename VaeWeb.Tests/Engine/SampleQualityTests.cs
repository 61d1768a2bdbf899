using VaeWeb.Engine.Data;
using VaeWeb.Engine.Models;
using VaeWeb.Engine.Quality;
using VaeWeb.Engine.Training;
using static TorchSharp.torch;

namespace VaeWeb.Tests.Engine;

/// <summary>The Fréchet distance on our own classifier's features, and its per-epoch use, on real MNIST.</summary>
public class SampleQualityTests
{
    static readonly Lazy<(ImageSet Train, ImageSet Test)> Mnist = TestMnist.Loaded;

    [Fact]
    public void The_frechet_distance_is_zero_for_equal_gaussians_and_matches_the_closed_form_for_diagonal_ones()
    {
        _ = Mnist.Value;
        using var scope = NewDisposeScope();
        var generator = new Generator(3);
        var mean1 = randn(new long[] { 6 }, generator: generator).to_type(ScalarType.Float64);
        var mean2 = randn(new long[] { 6 }, generator: generator).to_type(ScalarType.Float64);
        var variance1 = rand(new long[] { 6 }, generator: generator).to_type(ScalarType.Float64).add_(0.1);
        var variance2 = rand(new long[] { 6 }, generator: generator).to_type(ScalarType.Float64).add_(0.1);
        Assert.Equal(0, SampleQuality.FrechetDistance(mean1, diag(variance1), mean1, diag(variance1)), 9);
        // Diagonal covariances: ‖μ1 − μ2‖² + Σ (σ1 − σ2)².
        var expected = (mean1 - mean2).pow(2).sum().item<double>() + (variance1.sqrt() - variance2.sqrt()).pow(2).sum().item<double>();
        Assert.Equal(expected, SampleQuality.FrechetDistance(mean1, diag(variance1), mean2, diag(variance2)), 9);
    }

    [Fact]
    public void A_conditional_models_samples_are_scored_class_by_class()
    {
        // Its samples take the labels 0…9 in turn, a long tensor: made by adding a Scalar in place, it failed every
        // conditional run's first epoch once a classifier existed ("result type Float can't be cast to … Long").
        _ = Mnist.Value;                                                     // loads libtorch (with its repair) first
        manual_seed(1);
        using var classifier = new DigitClassifier();
        classifier.eval();
        using var quality = new SampleQuality(classifier);
        var config = new RunConfig { Model = ModelKind.Cvae, Latent = 8, Hidden = [64] };
        using var cvae = ModelRegistry.Create(config);
        cvae.eval();
        using var test = Mnist.Value.Test.Take(1_234);                      // batches of 500, 500 and 234 samples
        var scores = quality.Measure(cvae, ModelRegistry.Get(config.Model), test);
        Assert.All(scores, s => Assert.True(double.IsFinite(s.Value), $"{s.Key} = {s.Value}"));
    }

    [Fact]
    public void Every_epoch_scores_the_samples_and_a_trained_vae_scores_clearly_better_than_an_untrained_one()
    {
        manual_seed(1);
        using var classifier = new DigitClassifier();
        using (var subset = Mnist.Value.Train.Take(10_000))
        using (var test = Mnist.Value.Test.Take(1_000))
            Assert.InRange(classifier.Train(subset, test, 1, seed: 1), 90, 100);   // accurate enough to judge digits
        classifier.eval();
        using var quality = new SampleQuality(classifier);

        var config = new RunConfig { Epochs = 4, TrainLimit = 10_000, TestLimit = 1_000, Latent = 8, Hidden = [256] };
        var epochs = new List<EpochReport>();
        Trainer.Run(config, Mnist.Value.Train, Mnist.Value.Test, onEvent: e => { if (e is EpochReport r) epochs.Add(r); }, quality: quality);
        Assert.All(epochs, e => Assert.Contains(SampleQuality.Frechet, e.Test.Keys));
        Assert.True(epochs[^1].Test[SampleQuality.Frechet] < epochs[0].Test[SampleQuality.Frechet], "the samples improve from epoch 1 to 4");
        var trained = epochs[^1].Test;

        using var untrained = ModelRegistry.Create(config);
        untrained.eval();
        using var test1000 = Mnist.Value.Test.Take(1_000);
        var baseline = quality.Measure(untrained, ModelRegistry.Get(config.Model), test1000);
        Assert.True(trained[SampleQuality.Frechet] < 0.7 * baseline[SampleQuality.Frechet],
            $"Fréchet distance {trained[SampleQuality.Frechet]:F2} after 4 epochs vs {baseline[SampleQuality.Frechet]:F2} untrained");
        Assert.InRange(trained[SampleQuality.Confidence], 0.1, 1);
        Assert.InRange(trained[SampleQuality.Confident], 0, 100);
    }
}
