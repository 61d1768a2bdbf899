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

    public Cvae(int pixels = 784, int latent = 50, int[]? hidden = null, bool learnedPrior = false) : base(nameof(Cvae))
    {
        Latent = latent;
        hidden ??= [500, 500];
        var encoderLayers = new List<Module<Tensor, Tensor>>();
        int width = pixels + Classes;
        foreach (var h in hidden) { encoderLayers.Add(Linear(width, h)); encoderLayers.Add(Softplus()); width = h; }
        q = Linear(width, 2 * latent);
        var decoderLayers = new List<Module<Tensor, Tensor>>();
        width = latent + Classes;
        foreach (var h in hidden.Reverse()) { decoderLayers.Add(Linear(width, h)); decoderLayers.Add(Softplus()); width = h; }
        decoderLayers.Add(Linear(width, pixels));
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

    /// <summary>p(x|y,z): Bernoulli logits [B, 784].</summary>
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
        var z = noise is null ? VariationalAutoencoder.reparameterize(mu, logVar) : (0.5 * logVar).exp() * noise + mu;
        var reconstruction = functional.binary_cross_entropy_with_logits(decode(z, y), x, reduction: Reduction.None).sum(1);
        var (priorMu, priorLogVar) = Prior(labels);
        // KL of diagonal Gaussians: ½ Σ (log σp² − log σq² + (σq² + (μq − μp)²) / σp² − 1).
        var kl = (priorLogVar - logVar + (logVar.exp() + (mu - priorMu).square()) / priorLogVar.exp() - 1).sum(1).mul_(0.5);
        return (reconstruction, kl);
    }

    /// <summary>Bernoulli means of one sample of p(x|y) per label: labels [n] → [n, 784].</summary>
    public Tensor sample(Tensor labels, Generator? generator = null, double temperature = 1.0)
    {
        var (mu, logVar) = Prior(labels);
        var eps = randn(mu.shape, generator: generator).mul_(temperature);
        return decode(eps.mul_((0.5 * logVar).exp()).add_(mu), functional.one_hot(labels, Classes).to(ScalarType.Float32)).sigmoid_();
    }
}
