using TorchSharp;
using VaeWeb.Engine.Data;
using VaeWeb.Engine.Models;
using VaeWeb.Engine.Native;
using VaeWeb.Engine.Training;
using static TorchSharp.torch;

namespace VaeWeb.Engine.Quality;

/// <summary>
/// How real a model's samples look to <see cref="DigitClassifier"/>: the Fréchet distance between Gaussians fitted to
/// its penultimate features of the test images and of as many samples (Heusel et al. 2017's formula, on our MNIST
/// classifier, not Inception: not an FID), and the classifier's mean confidence on the samples. A GAN has no
/// likelihood; this puts every generative model on one axis.
/// </summary>
public sealed class SampleQuality(DigitClassifier classifier) : IDisposable
{
    /// <summary>Per-epoch metric names: the Fréchet distance, the mean top-class probability, the % of samples at ≥ 0.9.</summary>
    public const string Frechet = "frechet", Confidence = "confidence", Confident = "confident";
    /// <summary>At most this many samples (and test images): the measure's usual size.</summary>
    public const int MaxSamples = 10_000;

    (ImageSet Set, Tensor Mean, Tensor Covariance)? _test;

    /// <summary>The dataset's kept classifier as a measure; null when none has been trained (`classifier`).</summary>
    public static SampleQuality? TryLoad(string dataDirectory, string dataset) =>
        DigitClassifier.TryLoad(dataDirectory, dataset) is { } classifier ? new SampleQuality(classifier) : null;

    /// <summary>
    /// Samples as many images as <paramref name="test"/> holds (at most 10,000; conditional models: the ten classes in
    /// turn) at temperature 1 from a fixed seed, and scores them against the test images.
    /// </summary>
    public Dictionary<string, double> Measure(GenerativeModel model, ModelInfo info, ImageSet test)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        int n = (int)Math.Min(MaxSamples, test.Count);
        var (testMean, testCovariance) = TestStatistics(test, n);
        using var generator = new Generator((ulong)Evaluation.EvaluationSeed + 2);
        var features = new List<Tensor>();
        var top = new List<Tensor>();
        for (int start = 0; start < n; start += 500)
        {
            int size = Math.Min(500, n - start);
            // Classes start % 10, … in turn, from the long tensor 0…9 repeated: adding a (double) Scalar to a long
            // tensor in place fails ("result type Float can't be cast to the desired output type Long").
            const int classes = DigitClassifier.Classes;
            var labels = info.Has(Capability.Conditional)
                ? Scalars.Range(classes).repeat((start % classes + size + classes - 1) / classes).narrow(0, start % classes, size)
                : null;
            var samples = model.Sample(size, generator, 1.0, labels).clamp_(Scalars.Of(0), Scalars.One);
            var f = classifier.Features(samples);
            features.Add(f);
            top.Add(nn.functional.softmax(classifier.forward(samples), 1).max(1).values);
        }
        var (mean, covariance) = Statistics(cat(features, 0));
        var confidence = cat(top, 0);
        return new()
        {
            [Frechet] = FrechetDistance(testMean, testCovariance, mean, covariance),
            [Confidence] = confidence.mean().item<float>(),
            [Confident] = 100.0 * confidence.ge(Scalars.Of(0.9)).sum().item<long>() / n,
        };
    }

    /// <summary>Mean and covariance of the first n test images' features, computed once per test set.</summary>
    (Tensor Mean, Tensor Covariance) TestStatistics(ImageSet test, int n)
    {
        if (_test is { } known && ReferenceEquals(known.Set, test)) return (known.Mean, known.Covariance);
        if (_test is { } old) { old.Mean.Dispose(); old.Covariance.Dispose(); }
        Tensor mean, covariance;
        using (NewDisposeScope())
        {
            var features = cat(Enumerable.Range(0, (n + 999) / 1000)
                .Select(i => classifier.Features(test.Images.narrow(0, i * 1000L, Math.Min(1000, n - i * 1000)))).ToList(), 0);
            var (m, c) = Statistics(features);
            (mean, covariance) = (m.DetachFromDisposeScope(), c.DetachFromDisposeScope());
        }
        _test = (test, mean, covariance);
        return (mean, covariance);
    }

    /// <summary>Mean [D] and unbiased covariance [D, D] of features [n, D], in double precision.</summary>
    public static (Tensor Mean, Tensor Covariance) Statistics(Tensor features)
    {
        var f = features.to_type(ScalarType.Float64);
        var mean = f.mean([0]);
        var centred = f - mean;
        return (mean, centred.t().matmul(centred).div_(Scalars.Of(f.shape[0] - 1)));
    }

    /// <summary>
    /// ‖μ1 − μ2‖² + Tr(Σ1 + Σ2 − 2(Σ1Σ2)^½). Tr((Σ1Σ2)^½) is the sum of the square roots of the eigenvalues of the
    /// symmetric Σ1^½ Σ2 Σ1^½, which has the same spectrum and needs no non-symmetric square root.
    /// </summary>
    public static double FrechetDistance(Tensor mean1, Tensor covariance1, Tensor mean2, Tensor covariance2)
    {
        using var scope = NewDisposeScope();
        var (values, vectors) = linalg.eigh(covariance1);
        var root1 = vectors.mul(values.clamp_min(Scalars.Of(0)).sqrt().unsqueeze(0)).matmul(vectors.t());   // Σ1^½
        var product = root1.matmul(covariance2).matmul(root1);
        var traceRoot = linalg.eigvalsh(product.Plus(product.t()).mul_(Scalars.Of(0.5))).clamp_min(Scalars.Of(0)).sqrt().sum();
        var distance = (mean1 - mean2).Square().sum().Plus(covariance1.trace()).Plus(covariance2.trace()).sub(traceRoot.mul(Scalars.Of(2)));
        return distance.item<double>();
    }

    public void Dispose()
    {
        classifier.Dispose();
        if (_test is { } t) { t.Mean.Dispose(); t.Covariance.Dispose(); }
    }
}
