using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace VaeWeb.Engine.Models;

/// <summary>
/// The auto-encoding variational Bayes model of Kingma &amp; Welling (2013) with a Bernoulli decoder: what the FC and
/// convolutional VAEs share. Subclasses give the encoder q(z|x) and the decoder p(x|z); the loss, sampling and the
/// importance-weighted bound live here, beside forward.
/// </summary>
public abstract class VariationalAutoencoder(string name, int latent) : nn.Module<Tensor, (Tensor Logits, Tensor Mu, Tensor LogVar)>(name)
{
    public int Latent { get; } = latent;

    /// <summary>
    /// Where forward draws its reparameterization noise; null means torch's global generator. A trainer gives each run
    /// its own, so that two runs in one process (the embedded engine, parallel tests) never share a random stream.
    /// </summary>
    public Generator? Noise { get; set; }

    /// <summary>x: [B, 784] in [0, 1] → mean and log-variance of the diagonal Gaussian q(z|x), each [B, Latent].</summary>
    public abstract (Tensor Mu, Tensor LogVar) encode(Tensor x);

    /// <summary>z: [B, Latent] → Bernoulli logits of p(x|z), [B, 784].</summary>
    public abstract Tensor decode(Tensor z);

    /// <summary>FLOPs of one training step per image (forward + backward of every matrix product; elementwise work not counted).</summary>
    public abstract long TrainingFlopsPerImage { get; }

    /// <summary>z = mu + sigma * eps with eps ~ N(0, I): the reparameterization trick (Section 2.4).</summary>
    public static Tensor reparameterize(Tensor mu, Tensor logVar, Generator? generator = null)
    {
        var std = (0.5 * logVar).exp_();
        var eps = generator is null ? randn_like(std) : randn(std.shape, generator: generator);
        return eps.mul_(std).add_(mu);
    }

    public override (Tensor Logits, Tensor Mu, Tensor LogVar) forward(Tensor x)
    {
        var (mu, logVar) = encode(x);
        return (decode(reparameterize(mu, logVar, Noise)), mu, logVar);
    }

    /// <summary>
    /// The reconstruction term −log p(x|z) and the analytic KL(q(z|x) || N(0, I)) (Appendix B), each summed over the
    /// batch; the negative ELBO is their sum.
    /// </summary>
    public static (Tensor Reconstruction, Tensor Kl) Loss(Tensor logits, Tensor x, Tensor mu, Tensor logVar)
    {
        var reconstruction = nn.functional.binary_cross_entropy_with_logits(logits, x, reduction: nn.Reduction.Sum);
        var kl = (mu.square() + logVar.exp() - logVar - 1).sum().mul_(0.5);
        return (reconstruction, kl);
    }

    /// <summary>
    /// log p(x) ≥ log (1/k) Σ_i p(x, z_i) / q(z_i|x), z_i ~ q(z|x): the importance-weighted bound of Burda et al. (2015),
    /// which tightens to log p(x) as k grows. x: [B, 784] binary → [B] nats.
    /// </summary>
    public Tensor ImportanceWeightedLogLikelihood(Tensor x, int k, Generator? generator = null)
    {
        var (mu, logVar) = encode(x);                                        // [B, Z]
        var b = x.shape[0];
        var muK = mu.unsqueeze(0).expand(k, b, Latent);                      // [k, B, Z]
        var logVarK = logVar.unsqueeze(0).expand(k, b, Latent);
        var z = reparameterize(muK, logVarK, generator);                     // [k, B, Z]
        var logits = decode(z.reshape(k * b, Latent)).reshape(k, b, -1);      // [k, B, 784]
        var logPxz = -nn.functional.binary_cross_entropy_with_logits(logits, x.unsqueeze(0).expand_as(logits), reduction: nn.Reduction.None).sum(2);
        const double halfLog2Pi = 0.91893853320467274;
        var logPz = (z.square() * -0.5 - halfLog2Pi).sum(2);                 // log N(z; 0, I)
        var logQz = ((z - muK).square() / logVarK.exp() + logVarK).mul_(-0.5).sub_(halfLog2Pi).sum(2);
        return (logPxz + logPz - logQz).logsumexp(0) - Math.Log(k);
    }

    /// <summary>n images drawn from the prior: Bernoulli means sigmoid(decode(z)), z ~ N(0, I). [n, 784] in [0, 1].</summary>
    public Tensor sample(int n, Generator? generator = null, double temperature = 1.0)
    {
        var z = randn(new long[] { n, Latent }, generator: generator).mul_(temperature);
        return decode(z).sigmoid_();
    }

    /// <summary>Bernoulli means of the reconstruction of x through the posterior mean (no sampling noise). [B, 784].</summary>
    public Tensor reconstruct(Tensor x) => decode(encode(x).Mu).sigmoid_();

    /// <summary>2·in·out per linear layer forward; backward costs twice that, except no input gradient for the first layer.</summary>
    protected static long LinearTrainingFlops(IEnumerable<Linear> layers, Linear firstLayer)
    {
        long forward = layers.Sum(l => 2 * l.in_features * l.out_features);
        return 3 * forward - 2 * firstLayer.in_features * firstLayer.out_features;
    }
}
