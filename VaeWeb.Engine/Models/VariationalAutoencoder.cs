using TorchSharp;
using TorchSharp.Modules;
using VaeWeb.Engine.Data;
using VaeWeb.Engine.Native;
using VaeWeb.Engine.Training;
using static TorchSharp.torch;

namespace VaeWeb.Engine.Models;

/// <summary>
/// The auto-encoding variational Bayes model of Kingma &amp; Welling (2013): what the FC and convolutional VAEs share.
/// Subclasses give the encoder q(z|x) and the decoder p(x|z); the loss, the evaluation and the importance-weighted
/// bound live here, beside forward. p(x|z) is Bernoulli for grey images and a discretized logistic per sub-pixel for
/// 8-bit colour (<see cref="DiscretizedLogistic"/>), chosen by the image shape.
/// </summary>
public abstract class VariationalAutoencoder(string name, int latent, ImageShape? image = null, PixelLikelihood? likelihood = null) : GenerativeModel(name)
{
    public override int Latent { get; } = latent;

    /// <summary>The images it models, rows of <see cref="ImageShape.Pixels"/> values (784 for MNIST).</summary>
    public override ImageShape Image { get; } = image ?? ImageShape.Grey28;

    /// <summary>What p(x|z) is: Bernoulli for grey images, a discretized logistic for colour unless the caller says otherwise.</summary>
    public PixelLikelihood Likelihood { get; } = likelihood ?? ((image ?? ImageShape.Grey28).IsColour ? PixelLikelihood.DiscretizedLogistic : PixelLikelihood.Bernoulli);

    /// <summary>Decoder outputs per sub-pixel: 1 Bernoulli logit, or the logistic's mean and log-scale.</summary>
    protected int OutputsPerPixel => Likelihood == PixelLikelihood.DiscretizedLogistic ? 2 : 1;

    /// <summary>x: [B, D] in [0, 1] → mean and log-variance of the diagonal Gaussian q(z|x), each [B, Latent].</summary>
    public abstract (Tensor Mu, Tensor LogVar) Encode(Tensor x);

    /// <summary>z: [B, Latent] → p(x|z)'s parameters: Bernoulli logits [B, D], or logistic means then log-scales [B, 2D].</summary>
    public abstract Tensor DecodeLogits(Tensor z);

    public abstract override long TrainingFlopsPerImage { get; }

    public override (Tensor Mu, Tensor LogVar) Encode(Tensor x, Tensor? labels) => Encode(x);

    /// <summary>The mean of p(x|z), [n, D] in [0, 1]: sigmoid of the logits, or the logistic's mean clamped.</summary>
    public override Tensor Decode(Tensor z, Tensor? labels) => Likelihood == PixelLikelihood.DiscretizedLogistic
        ? DiscretizedLogistic.Mean(DecodeLogits(z))
        : DecodeLogits(z).sigmoid_();

    /// <summary>−log p(x|z) per image, [B] (or [k, B]): x [.., D] and the decoder's output [.., D or 2D].</summary>
    public Tensor NegativeLogLikelihood(Tensor decoded, Tensor x) => Likelihood == PixelLikelihood.DiscretizedLogistic
        ? DiscretizedLogistic.NegativeLogLikelihood(decoded, x)
        : nn.functional.binary_cross_entropy_with_logits(decoded, x, reduction: nn.Reduction.None).sum(-1);

    /// <summary>
    /// −log p(x|z) and the analytic KL(q(z|x) || N(0, I)), each summed over the batch, under this model's likelihood
    /// (the static <see cref="Loss(Tensor, Tensor, Tensor, Tensor)"/> is the Bernoulli one, bit for bit).
    /// </summary>
    public (Tensor Reconstruction, Tensor Kl) Terms(Tensor decoded, Tensor x, Tensor mu, Tensor logVar)
    {
        if (Likelihood == PixelLikelihood.Bernoulli) return Loss(decoded, x, mu, logVar);
        var kl = mu.Square().Plus(logVar.exp()).sub_(logVar).sub_(Scalars.One).sum().mul_(Scalars.Of(0.5));
        return (DiscretizedLogistic.NegativeLogLikelihood(decoded, x).sum(), kl);
    }

    public (Tensor Logits, Tensor Mu, Tensor LogVar) forward(Tensor x)
    {
        var (mu, logVar) = Encode(x);
        return (DecodeLogits(Reparameterize(mu, logVar, Noise)), mu, logVar);
    }

    /// <summary>
    /// The reconstruction term −log p(x|z) and the analytic KL(q(z|x) || N(0, I)) (Appendix B), each summed over the
    /// batch; the negative ELBO is their sum.
    /// </summary>
    public static (Tensor Reconstruction, Tensor Kl) Loss(Tensor logits, Tensor x, Tensor mu, Tensor logVar)
    {
        var reconstruction = nn.functional.binary_cross_entropy_with_logits(logits, x, reduction: nn.Reduction.Sum);
        var kl = mu.Square().Plus(logVar.exp()).sub_(logVar).sub_(Scalars.One).sum().mul_(Scalars.Of(0.5));
        return (reconstruction, kl);
    }

    /// <summary>The negative ELBO of batch.X [B, D], one z per image, as a batch mean; its terms per image.</summary>
    public override Loss Loss(Batch batch)
    {
        var x = batch.X!;
        var (logits, mu, logVar) = forward(x);
        var (reconstruction, kl) = Terms(logits, x, mu, logVar);
        var size = x.shape[0];
        // Mean over the batch keeps Adam's step size batch-independent.
        var perImage = Scalars.Of(size);
        var objective = reconstruction.Plus(kl).div(perImage);
        return new(objective, new Dictionary<string, Tensor>
        {
            [Metrics.Elbo] = -objective, [Metrics.Reconstruction] = reconstruction.div(perImage), [Metrics.Kl] = kl.div(perImage),
        });
    }

    public override Dictionary<string, double> Evaluate(ImageSet set, Binarization binarize) => Evaluation.Elbo(this, set, binarize);

    /// <summary>
    /// log p(x) ≥ log (1/k) Σ_i p(x, z_i) / q(z_i|x), z_i ~ q(z|x): the importance-weighted bound of Burda et al. (2015),
    /// which tightens to log p(x) as k grows. x: [B, D] (binary, grey levels or k/255 colour) → [B] nats.
    /// </summary>
    public override Tensor ImportanceWeightedLogLikelihood(Tensor x, int k, Generator? generator = null, Tensor? labels = null)
    {
        var (mu, logVar) = Encode(x);                                        // [B, Z]
        var b = x.shape[0];
        var muK = mu.unsqueeze(0).expand(k, b, Latent);                      // [k, B, Z]
        var logVarK = logVar.unsqueeze(0).expand(k, b, Latent);
        var z = Reparameterize(muK, logVarK, generator);                     // [k, B, Z]
        var decoded = DecodeLogits(z.reshape(k * b, Latent)).reshape(k, b, -1);  // [k, B, D] logits or [k, B, 2D]
        var logPxz = -NegativeLogLikelihood(decoded, x.unsqueeze(0).expand(k, b, x.shape[1]));   // [k, B]
        var zero = zeros_like(mu);
        var logPz = LogNormal(z, zero, zero);                                // log N(z; 0, I), [k, B]
        var logQz = LogNormal(z, muK, logVarK);
        return logPxz.Plus(logPz).sub_(logQz).logsumexp(0).sub_(Scalars.Of(Math.Log(k)));
    }

    /// <summary>2·in·out per linear layer forward; backward costs twice that, except no input gradient for the first layer.</summary>
    protected static long LinearTrainingFlops(IEnumerable<Linear> layers, Linear firstLayer)
    {
        long forward = layers.Sum(l => 2 * l.in_features * l.out_features);
        return 3 * forward - 2 * firstLayer.in_features * firstLayer.out_features;
    }
}
