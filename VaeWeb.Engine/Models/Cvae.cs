using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VaeWeb.Engine.Models;

/// <summary>
/// The conditional VAE of the poster (after Sohn et al. 2015 and Doersch 2016, Section 4):
/// log p(x|y) ≥ E_q(z|x,y)[log p(x|y,z)] − KL(q(z|x,y) || p(z|y)). The prior p(z|y) is either N(0, I) or a learned
/// diagonal Gaussian per class. Keeping z and changing y restyles a digit; fixing the visible pixels completes one.
/// </summary>
public sealed class Cvae : Module
{
    public const int Classes = 10;
    readonly Sequential encoder, decoder;
    readonly Linear q;
    // [10, 2·Latent]: mean and log-variance of p(z|y) for each class; null for the standard normal prior.
    readonly Embedding? prior;

    public int Latent { get; }
    /// <summary>
    /// False: Bernoulli p(x|y,z) on binary pixels. True: diagonal Gaussian, for real-valued inputs such as the latent
    /// means of M1 that M2 models in M1+M2 (Kingma et al. 2014, Section 3.1.3).
    /// </summary>
    public bool Gaussian { get; }
    /// <summary>Where the reparameterization noise comes from (null: torch's global generator); a trainer sets its run's own.</summary>
    public Generator? Noise { get; set; }

    public Cvae(int pixels = 784, int latent = 50, int[]? hidden = null, bool learnedPrior = false, bool gaussian = false) : base(nameof(Cvae))
    {
        Latent = latent;
        Gaussian = gaussian;
        hidden ??= [500, 500];
        var encoderLayers = new List<Module<Tensor, Tensor>>();
        int width = pixels + Classes;
        foreach (var h in hidden) { encoderLayers.Add(Linear(width, h)); encoderLayers.Add(Softplus()); width = h; }
        q = Linear(width, 2 * latent);
        var decoderLayers = new List<Module<Tensor, Tensor>>();
        width = latent + Classes;
        foreach (var h in hidden.Reverse()) { decoderLayers.Add(Linear(width, h)); decoderLayers.Add(Softplus()); width = h; }
        decoderLayers.Add(Linear(width, gaussian ? 2 * pixels : pixels));   // Gaussian: mean and log-variance
        encoder = Sequential(encoderLayers);
        decoder = Sequential(decoderLayers);
        if (learnedPrior)
        {
            prior = Embedding(Classes, 2 * latent);
            init.zeros_(prior.weight);                                       // start at N(0, I)
        }
        RegisterComponents();
    }

    /// <summary>q(z|x,y): x [B, 784], one-hot y [B, 10] → mean and log-variance, each [B, Latent].</summary>
    public (Tensor Mu, Tensor LogVar) encode(Tensor x, Tensor y)
    {
        var muLogVar = q.forward(encoder.forward(cat([x, y], 1))).chunk(2, 1);
        return (muLogVar[0], muLogVar[1]);
    }

    /// <summary>p(x|y,z): Bernoulli logits [B, 784], or Gaussian mean and log-variance side by side [B, 2·D].</summary>
    public Tensor decode(Tensor z, Tensor y) => decoder.forward(cat([z, y], 1));

    /// <summary>p(z|y) for labels [B] → mean and log-variance, each [B, Latent].</summary>
    public (Tensor Mu, Tensor LogVar) Prior(Tensor labels)
    {
        if (prior is null)
        {
            var zero = zeros(labels.shape[0], Latent);
            return (zero, zero);
        }
        var muLogVar = prior.forward(labels).chunk(2, 1);
        return (muLogVar[0], muLogVar[1]);
    }

    /// <summary>
    /// Per image, [B] each: −log p(x|y,z) for one z ~ q(z|x,y) and KL(q(z|x,y) || p(z|y)) in closed form.
    /// <paramref name="noise"/> ([B, Latent] standard normal) fixes the sample; tests use it to compare computations.
    /// </summary>
    public (Tensor Reconstruction, Tensor Kl) Terms(Tensor x, Tensor labels, Tensor? noise = null)
    {
        var y = functional.one_hot(labels, Classes).to(x.dtype);
        var (mu, logVar) = encode(x, y);
        var z = noise is null ? VariationalAutoencoder.reparameterize(mu, logVar, Noise) : (0.5 * logVar).exp() * noise + mu;
        var reconstruction = NegativeLogLikelihood(decode(z, y), x);
        var (priorMu, priorLogVar) = Prior(labels);
        // KL of diagonal Gaussians: ½ Σ (log σp² − log σq² + (σq² + (μq − μp)²) / σp² − 1).
        var kl = (priorLogVar - logVar + (logVar.exp() + (mu - priorMu).square()) / priorLogVar.exp() - 1).sum(1).mul_(0.5);
        return (reconstruction, kl);
    }

    /// <summary>−log p(x|y,z) per row, [B], from the decoder's output.</summary>
    Tensor NegativeLogLikelihood(Tensor decoded, Tensor x)
    {
        if (!Gaussian) return functional.binary_cross_entropy_with_logits(decoded, x, reduction: Reduction.None).sum(1);
        var meanLogVar = decoded.chunk(2, 1);
        const double halfLog2Pi = 0.91893853320467274;
        return ((x - meanLogVar[0]).square() / meanLogVar[1].exp() + meanLogVar[1]).mul(0.5).add(halfLog2Pi).sum(1);
    }

    /// <summary>The mean of p(x|y,z) for one z ~ p(z|y) per label: labels [n] → [n, D] (Bernoulli: pixel intensities).</summary>
    public Tensor sample(Tensor labels, Generator? generator = null, double temperature = 1.0)
    {
        var (mu, logVar) = Prior(labels);
        var eps = randn(mu.shape, generator: generator).mul_(temperature);
        var decoded = decode(eps.mul_((0.5 * logVar).exp()).add_(mu), functional.one_hot(labels, Classes).to(ScalarType.Float32));
        return Gaussian ? decoded.chunk(2, 1)[0] : decoded.sigmoid_();
    }

    /// <summary>z ~ p(z|y) from standard normal <paramref name="eps"/> [n, Latent] for labels [n].</summary>
    public Tensor PriorSample(Tensor eps, Tensor labels)
    {
        var (mu, logVar) = Prior(labels);
        return eps * (0.5 * logVar).exp() + mu;
    }

    /// <summary>The mean of p(x|y,z) for given z [n, Latent] and labels [n]: pixel intensities, or the Gaussian mean.</summary>
    public Tensor decodeMean(Tensor z, Tensor labels)
    {
        var decoded = decode(z, functional.one_hot(labels, Classes).to(z.dtype));
        return Gaussian ? decoded.chunk(2, 1)[0] : decoded.sigmoid_();
    }

    /// <summary>Mean of p(x|y,z) through the posterior mean of q(z|x,y): keeps the style z, draws it as label y. [B, D].</summary>
    public Tensor Restyle(Tensor x, Tensor fromLabels, Tensor toLabels)
    {
        var (mu, _) = encode(x, functional.one_hot(fromLabels, Classes).to(x.dtype));
        var decoded = decode(mu, functional.one_hot(toLabels, Classes).to(x.dtype));
        return Gaussian ? decoded.chunk(2, 1)[0] : decoded.sigmoid_();
    }
}
