using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VaeWeb.Engine.Models;

/// <summary>
/// The semi-supervised generative model M2 of Kingma, Mohamed, Rezende &amp; Welling (2014): p(y) p(z) p(x|y,z) with
/// inference networks q(y|x) (the classifier) and q(z|x,y). Its generative half is a <see cref="Cvae"/> with a
/// standard normal prior. Labeled images score −L(x,y); unlabeled ones sum over all labels,
/// Σ_y q(y|x)(−L(x,y)) + H(q(y|x)) (Section 3.1.2, equations 6–9). Fully connected; the poster's 784-500-z.
/// </summary>
public sealed class M2 : Module
{
    public const int Classes = Cvae.Classes;
    readonly Sequential classifier;
    readonly Cvae generative;

    public int Latent => generative.Latent;

    public M2(int pixels = 784, int latent = 50, int hidden = 500) : base(nameof(M2))
    {
        classifier = Sequential(Linear(pixels, hidden), Softplus(), Linear(hidden, hidden), Softplus(), Linear(hidden, Classes));
        generative = new Cvae(pixels, latent, [hidden, hidden]);
        RegisterComponents();
    }

    /// <summary>Logits of q(y|x), [B, 10].</summary>
    public Tensor classify(Tensor x) => classifier.forward(x);

    /// <summary>
    /// L(x, y) = −E_q(z|x,y)[log p(x|y,z) + log p(y) + log p(z) − log q(z|x,y)] per image, [B], one z sample.
    /// <paramref name="noise"/>: [B, Latent] standard normal, to fix the sample.
    /// </summary>
    public Tensor NegativeLabeledBound(Tensor x, Tensor labels, Tensor? noise = null)
    {
        var (reconstruction, kl) = generative.Terms(x, labels, noise);
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
        var ys = arange(Classes).repeat_interleave(b);                       // [10B]
        var bound = NegativeLabeledBound(xs, ys, noise).view(Classes, b).t(); // [B, 10]
        var entropy = -(probabilities * logProbabilities).sum(1);
        return (probabilities * bound).sum(1) - entropy;
    }

    /// <summary>
    /// The objective J^α of equation 9 for one step, per image: labeled bound plus α times the classification loss on
    /// the labeled batch, unlabeled bound on the unlabeled batch. Returns the total and its parts (batch means).
    /// </summary>
    public (Tensor Loss, Tensor Labeled, Tensor Unlabeled, Tensor Classification) Loss(Tensor xLabeled, Tensor labels, Tensor xUnlabeled, double alpha)
    {
        var labeled = NegativeLabeledBound(xLabeled, labels).mean();
        var unlabeled = NegativeUnlabeledBound(xUnlabeled).mean();
        var classification = functional.cross_entropy(classify(xLabeled), labels);
        return (labeled + unlabeled + alpha * classification, labeled, unlabeled, classification);
    }
}
