using TorchSharp.Modules;
using VaeWeb.Engine.Data;
using VaeWeb.Engine.Models;
using VaeWeb.Engine.Native;
using VaeWeb.Engine.Training;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VaeWeb.Tests.Models;

/// <summary>
/// A model the engine does not know: a linear VAE (logistic PCA with a Gaussian posterior; Tipping &amp; Bishop 1999,
/// Kingma &amp; Welling 2013), its encoder and decoder updated by two optimizers with their own learning rates, its
/// loss terms named "nll" and "kl". One file plus <see cref="Register"/> is all it takes to train and explore it.
/// </summary>
public sealed class LinearVae : GenerativeModel
{
    public const string Name = "linear-vae";
    readonly Linear encoder, decoder;

    public override int Latent { get; }

    public LinearVae(int latent) : base(nameof(LinearVae))
    {
        Latent = latent;
        encoder = Linear(784, 2 * latent);                                   // q(z|x): [B, 784] → μ, log σ² [B, 2·Latent]
        decoder = Linear(latent, 784);                                       // p(x|z): Bernoulli logits [B, 784]
        RegisterComponents();
    }

    public static void Register() => ModelRegistry.Register(new(Name, "Linear VAE (test model)",
        Capability.Encoder | Capability.SeveralOptimizers, [Architecture.Fc], [], c => new LinearVae(c.Latent)));

    public override (Tensor Mu, Tensor LogVar) Encode(Tensor x, Tensor? labels)
    {
        var muLogVar = encoder.forward(x).chunk(2, 1);
        return (muLogVar[0], muLogVar[1]);
    }

    public override Tensor Decode(Tensor z, Tensor? labels) => decoder.forward(z).sigmoid();

    /// <summary>−ELBO per image: "nll" −log p(x|z) for one z ~ q(z|x), "kl" KL(q(z|x) || N(0, I)).</summary>
    public override Loss Loss(Batch batch)
    {
        var x = batch.X!;
        var (mu, logVar) = Encode(x, null);
        var logits = decoder.forward(Reparameterize(mu, logVar, Noise));
        var nll = functional.binary_cross_entropy_with_logits(logits, x, reduction: Reduction.None).sum(1).mean();
        // TorchSharp wraps numbers in short-lived Scalars a GC may free mid-call: the engine's kept ones instead.
        var kl = mu.Square().Plus(logVar.exp()).sub_(logVar).sub_(Scalars.One).sum(1).mean().mul_(Scalars.Of(0.5));
        return new(nll.Plus(kl), new Dictionary<string, Tensor> { ["nll"] = nll, ["kl"] = kl });
    }

    public override Dictionary<string, double> Evaluate(ImageSet set, Binarization binarize)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var x = Evaluation.Binarize(set.Images, binarize, new Generator((ulong)Evaluation.EvaluationSeed));
        var terms = Loss(new Batch(x)).Terms;
        return terms.ToDictionary(t => t.Key, t => (double)t.Value.item<float>());
    }

    /// <summary>Two networks, two optimizers: the encoder at twice the decoder's learning rate, each in its own update.</summary>
    public override IReadOnlyList<Stage> Stages(RunConfig config, TrainingData data) =>
    [
        new Stage("", config.Epochs,
        [
            new Update("encoder", encoder.parameters(), 2 * config.LearningRate, Loss),
            new Update("decoder", decoder.parameters(), config.LearningRate, Loss),
        ]) { Evaluate = set => Evaluate(set, config.Binarize) },
    ];
}
