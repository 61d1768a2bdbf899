using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VaeWeb.Engine.Models;

/// <summary>
/// The semi-supervised generative model M2 of Kingma, Mohamed, Rezende &amp; Welling (2014): p(y) p(z) p(x|y,z) with
/// inference networks q(y|x) (the classifier) and q(z|x,y). Labeled images score −L(x,y); unlabeled ones sum over all
/// labels, Σ_y q(y|x)(−L(x,y)) + H(q(y|x)) (Section 3.1.2, equations 6–9). Fully connected; the poster's 784-500-z.
/// </summary>
public sealed class M2 : Module
{
    public const int Classes = 10;
    readonly Sequential classifier, encoder, decoder;
    readonly Linear q;

    public int Latent { get; }

    public M2(int pixels = 784, int latent = 50, int hidden = 500) : base(nameof(M2))
    {
        Latent = latent;
        classifier = Sequential(Linear(pixels, hidden), Softplus(), Linear(hidden, hidden), Softplus(), Linear(hidden, Classes));
        encoder = Sequential(Linear(pixels + Classes, hidden), Softplus(), Linear(hidden, hidden), Softplus());
        q = Linear(hidden, 2 * latent);
        decoder = Sequential(Linear(latent + Classes, hidden), Softplus(), Linear(hidden, hidden), Softplus(), Linear(hidden, pixels));
        RegisterComponents();
    }

    /// <summary>Logits of q(y|x), [B, 10].</summary>
    public Tensor classify(Tensor x) => classifier.forward(x);

    /// <summary>q(z|x,y) for x [B, 784] and one-hot y [B, 10] → mean and log-variance, each [B, Latent].</summary>
    public (Tensor Mu, Tensor LogVar) encode(Tensor x, Tensor y)
    {
        var muLogVar = q.forward(encoder.forward(cat([x, y], 1))).chunk(2, 1);
        return (muLogVar[0], muLogVar[1]);
    }

    /// <summary>p(x|y,z): Bernoulli logits [B, 784].</summary>
    public Tensor decode(Tensor z, Tensor y) => decoder.forward(cat([z, y], 1));

    /// <summary>
    /// L(x, y) = −E_q(z|x,y)[log p(x|y,z) + log p(y) + log p(z) − log q(z|x,y)] per image, [B], one z sample,
    /// with the KL of the Gaussian part in closed form (Kingma &amp; Welling 2013, Appendix B).
    /// <paramref name="noise"/> ([B, Latent] standard normal) fixes the sample; tests use it to compare two computations.
    /// </summary>
    public Tensor NegativeLabeledBound(Tensor x, Tensor y, Tensor? noise = null)
    {
        var (mu, logVar) = encode(x, y);
        var z = noise is null ? VariationalAutoencoder.reparameterize(mu, logVar) : (0.5 * logVar).exp() * noise + mu;
        var reconstruction = functional.binary_cross_entropy_with_logits(decode(z, y), x, reduction: Reduction.None).sum(1);
        var kl = (mu.square() + logVar.exp() - logVar - 1).sum(1).mul_(0.5);
        return reconstruction + kl + Math.Log(Classes);                      // −log p(y) with the uniform prior
    }

    /// <summary>
    /// U(x) = Σ_y q(y|x) L(x, y) − H(q(y|x)) per image, [B]: every label in one batched pass of 10·B rows, not a loop.
    /// <paramref name="noise"/>: [10B, Latent], row y·B + i for image i with label y.
    /// </summary>
    public Tensor NegativeUnlabeledBound(Tensor x, Tensor? noise = null)
    {
        long b = x.shape[0];
        var logProbabilities = functional.log_softmax(classify(x), 1);       // [B, 10]
        var probabilities = logProbabilities.exp();
        // Row y·B + i pairs image i with label y.
        var xs = x.repeat(Classes, 1);                                       // [10B, 784]
        var ys = functional.one_hot(arange(Classes).repeat_interleave(b), Classes).to(x.dtype);   // [10B, 10]
        var bound = NegativeLabeledBound(xs, ys, noise).view(Classes, b).t();       // [B, 10]
        var entropy = -(probabilities * logProbabilities).sum(1);
        return (probabilities * bound).sum(1) - entropy;
    }

    /// <summary>
    /// The objective J^α of equation 9 for one step, per image: labeled bound plus α times the classification loss on
    /// the labeled batch, unlabeled bound on the unlabeled batch. Returns the total and its parts (batch means).
    /// </summary>
    public (Tensor Loss, Tensor Labeled, Tensor Unlabeled, Tensor Classification) Loss(Tensor xLabeled, Tensor labels, Tensor xUnlabeled, double alpha)
    {
        var y = functional.one_hot(labels, Classes).to(xLabeled.dtype);
        var labeled = NegativeLabeledBound(xLabeled, y).mean();
        var unlabeled = NegativeUnlabeledBound(xUnlabeled).mean();
        var classification = functional.cross_entropy(classify(xLabeled), labels);
        return (labeled + unlabeled + alpha * classification, labeled, unlabeled, classification);
    }
}
