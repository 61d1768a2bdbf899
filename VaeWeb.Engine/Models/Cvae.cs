using TorchSharp.Modules;
using VaeWeb.Engine.Data;
using VaeWeb.Engine.Native;
using VaeWeb.Engine.Training;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VaeWeb.Engine.Models;

/// <summary>
/// The conditional VAE of the poster (after Sohn et al. 2015 and Doersch 2016, Section 4):
/// log p(x|y) ≥ E_q(z|x,y)[log p(x|y,z)] − KL(q(z|x,y) || p(z|y)). The prior p(z|y) is either N(0, I) or a learned
/// diagonal Gaussian per class. Keeping z and changing y restyles a digit; fixing the visible pixels completes one.
/// Its networks are FC (the poster's), or the conv VAE's with y beside the image and beside z (`--arch conv`).
/// </summary>
public sealed class Cvae : GenerativeModel
{
    public const int Classes = 10;
    // Convolutional: the encoder sees y as ten constant planes beside the image's, [B, C + 10, H, W].
    readonly bool labelPlanes;
    readonly Sequential encoder, decoder;
    readonly Linear q;
    // The encoder's linear layers (also inside `encoder`): EncodeEveryLabel runs them one by one.
    readonly Linear[] encoderLinears;
    // [10, 2·Latent]: mean and log-variance of p(z|y) for each class; null for the standard normal prior.
    readonly Embedding? prior;

    public override int Latent { get; }
    /// <summary>
    /// False: Bernoulli p(x|y,z) on binary pixels. True: diagonal Gaussian, for real-valued inputs such as the latent
    /// means of M1 that M2 models in M1+M2 (Kingma et al. 2014, Section 3.1.3).
    /// </summary>
    public bool Gaussian { get; }

    /// <summary>
    /// Gaussian p(x|y,z) only: [D], 1 where a dimension is modeled and 0 where it is left out of the likelihood (M1+M2
    /// drops M1's inactive units, whose near-constant values a Gaussian would fit with unbounded density). Null: all.
    /// </summary>
    public Tensor? Observed { get; set; }

    /// <summary>
    /// Colour images (8-bit sub-pixels k/255): p(x|y,z) is a discretized logistic per sub-pixel (<see cref="DiscretizedLogistic"/>),
    /// the decoder giving means then log-scales [B, 2D]. False for grey images and for M1+M2's real-valued features.
    /// </summary>
    public bool Logistic { get; }

    public override ImageShape Image { get; }

    /// <param name="image">A dataset's image shape: when given, the input width is its pixels and a colour shape takes
    /// the discretized logistic likelihood; null: grey rows of <paramref name="pixels"/>.</param>
    /// <param name="convolutional">The CVAE-GAN's encoder and decoder (the conv VAE's, with y as ten constant planes beside
    /// the image and beside z), so the CVAE-GAN has a plain CVAE of the same networks to be read against; false: FC
    /// layers of <paramref name="hidden"/> sizes, the poster's.</param>
    /// <param name="nonlinearity">The conv networks' hidden units (<see cref="RunConfig.ConvNonlinearity"/>); FC layers are softplus.</param>
    public Cvae(int pixels = 784, int latent = 50, int[]? hidden = null, bool learnedPrior = false, bool gaussian = false, ImageShape? image = null,
        bool convolutional = false, Nonlinearity nonlinearity = Nonlinearity.Relu) : base(nameof(Cvae))
    {
        Latent = latent;
        Gaussian = gaussian;
        Image = image ?? ImageShape.Grey(pixels);
        pixels = Image.Pixels;
        Logistic = Image.IsColour && !gaussian;
        hidden ??= [500, 500];
        int outputs = gaussian || Logistic ? 2 * pixels : pixels;           // Gaussian: mean and log-variance; logistic: mean and log-scale
        if (convolutional)
        {
            if (gaussian || Image.Height != Image.Width || Image.Height % 4 != 0)
                throw new ArgumentException($"The conv CVAE takes square images with sides divisible by 4 (got {Image}).");
            encoder = ConvVae.EncoderNetwork(Image.Channels + Classes, Image, nonlinearity);   // [x; y planes] → [B, 256]
            q = Linear(ConvVae.Hidden, 2 * latent);
            // [z; y] → [B, D] or [B, 2D]
            decoder = ConvVae.DecoderNetwork(latent + Classes, outputs / (Image.Height * Image.Width), Image, nonlinearity);
            encoderLinears = [];
            labelPlanes = true;
        }
        else
        {
            var encoderLayers = new List<Module<Tensor, Tensor>>();
            int width = pixels + Classes;
            foreach (var h in hidden) { encoderLayers.Add(Linear(width, h)); encoderLayers.Add(Softplus()); width = h; }
            encoderLinears = [.. encoderLayers.OfType<Linear>()];
            q = Linear(width, 2 * latent);
            var decoderLayers = new List<Module<Tensor, Tensor>>();
            width = latent + Classes;
            foreach (var h in hidden.Reverse()) { decoderLayers.Add(Linear(width, h)); decoderLayers.Add(Softplus()); width = h; }
            decoderLayers.Add(Linear(width, outputs));
            encoder = Sequential(encoderLayers);
            decoder = Sequential(decoderLayers);
        }
        if (learnedPrior)
        {
            prior = Embedding(Classes, 2 * latent);
            init.zeros_(prior.weight);                                       // start at N(0, I)
        }
        RegisterComponents();
    }

    /// <summary>y's one-hot [B, 10] in <paramref name="like"/>'s dtype: the conditional models' label input.</summary>
    internal static Tensor OneHot(Tensor labels, Tensor like) => functional.one_hot(labels, Classes).to(like.dtype);

    /// <summary>q(z|x,y): x [B, D], labels [B] → mean and log-variance, each [B, Latent].</summary>
    public override (Tensor Mu, Tensor LogVar) Encode(Tensor x, Tensor? labels)
    {
        var input = labelPlanes
            ? ConvVae.WithLabelPlanes(x, labels!, Image)                     // [B, C + 10, H, W]
            : cat([x, OneHot(labels!, x)], 1);                               // [B, D + 10]
        var muLogVar = q.forward(encoder.forward(input)).chunk(2, 1);
        return (muLogVar[0], muLogVar[1]);
    }

    /// <summary>
    /// q(z|x,y) of every image under every label: x [B, D] → mean and log-variance [10B, Latent], row y·B + i for image
    /// i with label y — what M2's unlabeled bound needs. The same numbers as <see cref="Encode"/> on x repeated ten times,
    /// but the first layer W·[x; onehot(y)] + b = (W_x·x + b) + W_y[:, y] computes the image's part once per image, not
    /// once per label: that layer is about a fifth of the unlabeled bound's work at the poster's sizes.
    /// </summary>
    public (Tensor Mu, Tensor LogVar) EncodeEveryLabel(Tensor x)
    {
        if (labelPlanes) return Encode(x.repeat(Classes, 1), Scalars.Range(Classes).repeat_interleave(x.shape[0]));
        var first = encoderLinears[0];
        long d = x.shape[1];
        var image = functional.linear(x, first.weight!.narrow(1, 0, d), first.bias);                   // [B, H]
        var label = first.weight!.narrow(1, d, Classes).t();                                            // [10, H]
        var h = Scalars.Softplus(label.unsqueeze(1).Plus(image.unsqueeze(0)).flatten(0, 1));           // [10B, H]
        foreach (var layer in encoderLinears.Skip(1)) h = Scalars.Softplus(layer.forward(h));
        var muLogVar = q.forward(h).chunk(2, 1);
        return (muLogVar[0], muLogVar[1]);
    }

    /// <summary>p(x|y,z): Bernoulli logits [B, D], or Gaussian mean and log-variance (logistic mean and log-scale) side by side [B, 2·D].</summary>
    Tensor Likelihood(Tensor z, Tensor labels) => decoder.forward(cat([z, OneHot(labels, z)], 1));

    /// <summary>p(z|y) for labels [B] → mean and log-variance, each [B, Latent].</summary>
    (Tensor Mu, Tensor LogVar) PriorParameters(Tensor labels)
    {
        if (prior is null)
        {
            var zero = zeros(labels.shape[0], Latent);
            return (zero, zero);
        }
        var muLogVar = prior.forward(labels).chunk(2, 1);
        return (muLogVar[0], muLogVar[1]);
    }

    /// <summary>z ~ p(z|y) from standard normal <paramref name="eps"/> [n, Latent] for labels [n].</summary>
    public override Tensor Prior(Tensor eps, Tensor? labels)
    {
        if (prior is null) return eps;
        var (mu, logVar) = PriorParameters(labels!);
        return eps.mul(logVar.mul(Scalars.Of(0.5)).exp()).Plus(mu);
    }

    /// <summary>The mean of p(x|y,z) for z [n, Latent] and labels [n]: pixel intensities, or the Gaussian mean. [n, D].</summary>
    public override Tensor Decode(Tensor z, Tensor? labels)
    {
        var decoded = Likelihood(z, labels!);
        return Gaussian ? decoded.chunk(2, 1)[0] : Logistic ? DiscretizedLogistic.Mean(decoded) : decoded.sigmoid_();
    }

    /// <summary>
    /// Per image, [B] each: −log p(x|y,z) for one z ~ q(z|x,y) and KL(q(z|x,y) || p(z|y)) in closed form.
    /// <paramref name="noise"/> ([B, Latent] standard normal) fixes the sample; tests use it to compare computations.
    /// </summary>
    /// <param name="encoded">q(z|x,y) already computed for these rows (M2's <see cref="EncodeEveryLabel"/>); null: encode here.</param>
    public (Tensor Reconstruction, Tensor Kl) Terms(Tensor x, Tensor labels, Tensor? noise = null, (Tensor Mu, Tensor LogVar)? encoded = null)
    {
        var (mu, logVar) = encoded ?? Encode(x, labels);
        var z = noise is null ? Reparameterize(mu, logVar, Noise) : logVar.mul(Scalars.Of(0.5)).exp().mul(noise).Plus(mu);
        var reconstruction = NegativeLogLikelihood(Likelihood(z, labels), x);
        var (priorMu, priorLogVar) = PriorParameters(labels);
        // KL of diagonal Gaussians: ½ Σ (log σp² − log σq² + (σq² + (μq − μp)²) / σp² − 1).
        var kl = (priorLogVar - logVar).Plus(logVar.exp().Plus((mu - priorMu).Square()).div(priorLogVar.exp())).sub_(Scalars.One).sum(1).mul_(Scalars.Of(0.5));
        return (reconstruction, kl);
    }

    /// <summary>−log p(x|y,z) per row, [B], from the decoder's output.</summary>
    Tensor NegativeLogLikelihood(Tensor decoded, Tensor x)
    {
        if (Logistic) return DiscretizedLogistic.NegativeLogLikelihood(decoded, x);
        if (!Gaussian) return functional.binary_cross_entropy_with_logits(decoded, x, reduction: Reduction.None).sum(1);
        var meanLogVar = decoded.chunk(2, 1);
        const double halfLog2Pi = 0.91893853320467274;
        var perDimension = (x - meanLogVar[0]).Square().div(meanLogVar[1].exp()).Plus(meanLogVar[1]).mul(Scalars.Of(0.5)).add(Scalars.Of(halfLog2Pi), Scalars.One);
        return (Observed is null ? perDimension : perDimension.mul(Observed)).sum(1);
    }

    /// <summary>
    /// log p(x|y) ≥ log (1/k) Σ_i p(x|y,z_i) p(z_i|y) / q(z_i|x,y), z_i ~ q(z|x,y): the importance-weighted bound of
    /// Burda et al. (2015) for the class given. x [B, D], labels [B] → [B] nats.
    /// </summary>
    public override Tensor ImportanceWeightedLogLikelihood(Tensor x, int k, Generator? generator = null, Tensor? labels = null)
    {
        if (labels is null) throw new ArgumentException("The CVAE's likelihood is log p(x|y): give each image's label.", nameof(labels));
        long b = x.shape[0];
        var (mu, logVar) = Encode(x, labels);                                // [B, Z]
        var muK = mu.unsqueeze(0).expand(k, b, Latent);                      // [k, B, Z]
        var logVarK = logVar.unsqueeze(0).expand(k, b, Latent);
        var z = Reparameterize(muK, logVarK, generator);                     // [k, B, Z]
        // Row i·B + j of the k·B decoder rows is draw i of image j.
        var logPx = -NegativeLogLikelihood(Likelihood(z.reshape(k * b, Latent), labels.repeat(k)), x.repeat(k, 1)).view(k, b);
        var (priorMu, priorLogVar) = PriorParameters(labels);                // [B, Z], broadcast over k
        return logPx.Plus(LogNormal(z, priorMu, priorLogVar)).sub_(LogNormal(z, muK, logVarK)).logsumexp(0).sub_(Scalars.Of(Math.Log(k)));
    }

    /// <summary>The negative bound on log p(x|y) of a labeled batch (batch.X, batch.Labels), and its terms per image.</summary>
    public override Loss Loss(Batch batch)
    {
        var (reconstruction, kl) = Terms(batch.X!, batch.Labels!);
        var objective = reconstruction.Plus(kl).mean();
        return new(objective, new Dictionary<string, Tensor>
        {
            [Metrics.Reconstruction] = reconstruction.mean(), [Metrics.Kl] = kl.mean(), [Metrics.Elbo] = -objective,
        });
    }

    /// <summary>Test bound log p(x|y) ≥ ELBO per image, with its two terms; fixed evaluation noise.</summary>
    public override Dictionary<string, double> Evaluate(ImageSet set, Binarization binarize)
    {
        using var _ = no_grad();
        using var generator = new Generator((ulong)Evaluation.EvaluationSeed);
        using var images = Evaluation.FixedBinarization(set, binarize);
        double reconstruction = 0, kl = 0;
        for (long start = 0; start < set.Count; start += 1000)
        {
            using var scope = NewDisposeScope();
            var size = Math.Min(1000, set.Count - start);
            var x = images.narrow(0, start, size);
            var noise = randn(new long[] { size, Latent }, generator: generator);
            var (rec, klTerm) = Terms(x, set.Labels.narrow(0, start, size), noise);
            reconstruction += rec.sum().item<float>();
            kl += klTerm.sum().item<float>();
        }
        var losses = Metrics.Losses(reconstruction / set.Count, kl / set.Count);
        if (Logistic) losses[Metrics.BitsPerDim] = DiscretizedLogistic.BitsPerDimension(-losses[Metrics.Elbo], Image.Pixels);
        return losses;
    }
}
