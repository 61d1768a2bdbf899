using VaeWeb.Engine.Data;
using VaeWeb.Engine.Models;
using static TorchSharp.torch;

namespace VaeWeb.Engine.Training;

/// <summary>Test-set bounds on log p(x), averaged per image, in nats.</summary>
public static class Evaluation
{
    /// <summary>Fixed seed of evaluation noise (binarization and z samples), so every epoch is scored on the same draws.</summary>
    public const long EvaluationSeed = 20131220;

    /// <summary>
    /// The one binarization of a set every estimator scores (ELBO, the importance-weighted bound at any k, every model):
    /// each image's Bernoulli draw comes from a stream of its own seed, drawn for the whole set at once, so it does not
    /// depend on the batch size or on how much z noise an estimator drew before it. Grey levels are returned as they are.
    /// </summary>
    public static Tensor FixedBinarization(ImageSet set, Binarization binarize)
    {
        if (binarize != Binarization.Dynamic) return set.Images.alias();
        using var generator = new Generator((ulong)EvaluationSeed + 1);    // disposed after use, not finalized mid-call (see Scalars)
        return Binarize(set.Images, binarize, generator);
    }

    /// <summary>ELBO, reconstruction and KL per image over <paramref name="set"/>, one z sample per image.</summary>
    public static Dictionary<string, double> Elbo(VariationalAutoencoder model, ImageSet set, Binarization binarize, int batchSize = 1000)
    {
        using var _ = no_grad();
        bool wasTraining = model.training;
        model.eval();
        using var generator = new Generator((ulong)EvaluationSeed);
        using var images = FixedBinarization(set, binarize);
        double reconstruction = 0, kl = 0;
        for (long start = 0; start < set.Count; start += batchSize)
        {
            using var scope = NewDisposeScope();
            var x = images.narrow(0, start, Math.Min(batchSize, set.Count - start));
            var (mu, logVar) = model.Encode(x);
            var logits = model.DecodeLogits(GenerativeModel.Reparameterize(mu, logVar, generator));
            var (rec, klTerm) = model.Terms(logits, x, mu, logVar);
            reconstruction += rec.item<float>();
            kl += klTerm.item<float>();
        }
        model.train(wasTraining);
        var losses = Metrics.Losses(reconstruction / set.Count, kl / set.Count);
        if (model.Likelihood == PixelLikelihood.DiscretizedLogistic)
            losses[Metrics.BitsPerDim] = DiscretizedLogistic.BitsPerDimension(-losses[Metrics.Elbo], model.Image.Pixels);
        return losses;
    }

    /// <summary>
    /// The importance-weighted estimate of log p(x) with k samples per image (Burda et al. 2015), averaged over the set;
    /// of log p(x|y) with the set's labels for a conditional model without a classifier (the CVAE).
    /// Costs k decoder passes per image; <paramref name="onProgress"/> gets the fraction done.
    /// </summary>
    public static double ImportanceWeightedLogLikelihood(GenerativeModel model, ImageSet set, Binarization binarize, int k,
        Action<double>? onProgress = null, CancellationToken cancellationToken = default)
    {
        using var _ = no_grad();
        model.eval();
        using var generator = new Generator((ulong)EvaluationSeed);
        // Keep the [k, B, 784] logits tensor near 64 MB whatever k is (colour: [k, B, 2·3072], the same number of values).
        int batch = (int)Math.Clamp(20_000_000L / (k * (model.Image.IsColour ? 2L * model.Image.Pixels : 784L)), 1, 1000);
        using var images = FixedBinarization(set, binarize);
        double total = 0;
        for (long start = 0; start < set.Count; start += batch)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var scope = NewDisposeScope();
            var x = images.narrow(0, start, Math.Min(batch, set.Count - start));
            total += model.ImportanceWeightedLogLikelihood(x, k, generator, set.Labels.narrow(0, start, x.shape[0])).sum().item<float>();
            onProgress?.Invoke(Math.Min(1.0, (double)(start + batch) / set.Count));
        }
        return total / set.Count;
    }

    /// <summary>What <see cref="ImportanceWeightedLogLikelihood"/> estimates for a model: log p(x|y) for a conditional model without a classifier (the CVAE), else log p(x).</summary>
    public static string LikelihoodOf(ModelInfo info) =>
        info.Has(Capability.Conditional) && !info.Has(Capability.Classifier) ? "log p(x|y)" : "log p(x)";

    /// <summary>Percent of <paramref name="images"/> [N, D] whose argmax of <paramref name="classify"/> is not its label.</summary>
    public static double ErrorPercent(Func<Tensor, Tensor> classify, Tensor images, Tensor labels, int batchSize = 1000)
    {
        using var _ = no_grad();
        long wrong = 0, count = images.shape[0];
        for (long start = 0; start < count; start += batchSize)
        {
            using var scope = NewDisposeScope();
            var size = Math.Min(batchSize, count - start);
            var predicted = classify(images.narrow(0, start, size)).argmax(1);
            wrong += predicted.ne(labels.narrow(0, start, size)).sum().item<long>();
        }
        return count == 0 ? 0 : 100.0 * wrong / count;
    }

    /// <summary>
    /// Percent of the set's images misclassified by q(y|x) averaged over <paramref name="draws"/> binarizations of each image
    /// (Bernoulli draws from a fixed seed, not the fixed binarization's): what a classifier trained on dynamically binarized
    /// images predicts for the grey image rather than for one draw of it. Logits → probabilities, summed, then the argmax.
    /// </summary>
    public static double ErrorOverBinarizations(Func<Tensor, Tensor> classify, ImageSet set, int draws, int batchSize = 1000)
    {
        using var generator = new Generator((ulong)EvaluationSeed + 2);
        Tensor Averaged(Tensor x)                                            // [B, D] grey → [B, 10] summed probabilities
        {
            var probabilities = zeros(x.shape[0], Cvae.Classes);
            for (int d = 0; d < draws; d++) probabilities.add_(nn.functional.softmax(classify(Binarize(x, Binarization.Dynamic, generator)), 1));
            return probabilities;
        }
        return ErrorPercent(Averaged, set.Images, set.Labels, batchSize);
    }

    /// <summary>The data the likelihood scores: a Bernoulli draw of each pixel (dynamic binarization) or the grey levels.</summary>
    /// <remarks>u &lt; p with u ~ U[0, 1) is Bernoulli(p); written so because libtorch's bernoulli() is 4x slower on CPU.</remarks>
    public static Tensor Binarize(Tensor x, Binarization binarize, Generator? generator) =>
        binarize == Binarization.Dynamic ? rand(x.shape, generator: generator).lt_(x) : x;
}

/// <summary>Names of the metrics every run reports, shared by the CLI, metrics.jsonl and the web app.</summary>
public static class Metrics
{
    public const string Elbo = "elbo", Reconstruction = "reconstruction", Kl = "kl";
    /// <summary>Semi-supervised losses (nats per image, each the negative of a bound): L(x,y) labeled, U(x) unlabeled, −log q(y|x) labeled.</summary>
    public const string Labeled = "labeled", Unlabeled = "unlabeled", Classification = "classification";
    /// <summary>Classification error in percent.</summary>
    public const string Error = "error";
    /// <summary>
    /// Colour models: the test bound in bits per dimension, −ELBO / (D·ln 2) with D = 3072 sub-pixels. The discretized
    /// logistic is a probability mass over the 256 values of each 8-bit sub-pixel, so the bound is already that of the
    /// discrete data (no log 256 correction, no dequantization); 8 bits/dim is a uniform guess, lower is better.
    /// </summary>
    public const string BitsPerDim = "bits-per-dim";
    /// <summary>
    /// GANs: the discriminator's mean output D(x) on real images and on fakes (probabilities), its loss, and the
    /// generator's (decoder's) GAN loss −log D(fake). The trainer's <see cref="GanCollapse"/> rule reads these names.
    /// </summary>
    public const string RealScore = "d-real", FakeScore = "d-fake", DiscriminatorLoss = "discriminator", GeneratorLoss = "generator";

    public static Dictionary<string, double> Losses(double reconstruction, double kl) => new()
    {
        [Elbo] = -(reconstruction + kl),
        [Reconstruction] = reconstruction,
        [Kl] = kl,
    };
}
