using TorchSharp.Modules;
using VaeWeb.Engine.Data;
using VaeWeb.Engine.Native;
using VaeWeb.Engine.Training;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VaeWeb.Engine.Models;

/// <summary>
/// VAE-GAN (Larsen, Sønderby, Larochelle &amp; Winther 2016, "Autoencoding beyond pixels using a learned similarity
/// metric"): a VAE whose decoder is also a GAN's generator, and whose reconstruction error is measured in the
/// discriminator's l-th layer instead of in pixels. Losses (Section 2, Algorithm 1):
/// L_prior = KL(q(z|x) || N(0, I)); L_llike = −log N(Dis_l(x) | Dis_l(x̃), I) with x̃ = Dec(z), z ~ q(z|x);
/// L_GAN = log Dis(x) + log(1 − Dis(x̃)) + log(1 − Dis(x_p)) with x_p = Dec(z_p), z_p ~ N(0, I).
/// The encoder descends L_prior + L_llike, the decoder γ·L_llike − L_GAN (non-saturating: −log Dis(fake)), the
/// discriminator −L_GAN; L_llike never updates the discriminator. Our sizes for 28x28: the encoder and decoder are
/// <see cref="ConvVae"/>'s, so a VAE-GAN and a conv VAE of one latent size compare network for network; the
/// discriminator is two stride-2 4x4 convolutions (32, 64 channels, LeakyReLU 0.2; its second is Dis_l, [B, 64·7·7])
/// and a linear judge. Images are grey levels: a discriminator would tell binary real digits from grey decoder means.
/// </summary>
public sealed class VaeGan : GenerativeModel
{
    /// <summary>
    /// Its loss terms beside the shared GAN names (<see cref="Metrics.RealScore"/>…): L_llike; the encoder's whole loss
    /// L_prior + L_llike; the decoder's γ·L_llike + (−log Dis(x̃) − log Dis(x_p)), GAN term counted even on steps the
    /// balance rule leaves it out of the update.
    /// </summary>
    public const string Llike = "llike", EncoderLoss = "encoder", DecoderLoss = "decoder";
    const string DiscriminatorLoss = Metrics.DiscriminatorLoss, GeneratorLoss = Metrics.GeneratorLoss, RealScore = Metrics.RealScore, FakeScore = Metrics.FakeScore;

    /// <summary>
    /// The run page's charts: each network's loss (log scale: L_llike is hundreds of nats, the GAN losses a few),
    /// the terms of L_prior and L_llike per step and on the test set, and the discriminator's mean output on real
    /// images and on prior samples (L_GAN's two sides, Section 2.2), which the balance rule below keeps from the extremes.
    /// </summary>
    public static readonly IReadOnlyList<MetricChart> Charts =
    [
        new("losses", "Each network's loss (per image)", "nats",
        [
            new("step", EncoderLoss, "encoder: L_prior + L_llike"), new("step", DecoderLoss, "decoder: γ·L_llike − L_GAN"),
            new("step", GeneratorLoss, "decoder's GAN part: −log D(x̃) − log D(x_p)"), new("step", DiscriminatorLoss, "discriminator: −L_GAN"),
        ]) { LogScale = true },
        new("vae-terms", "L_prior (KL) and L_llike (discriminator features)", "nats",
        [
            new("step", Metrics.Kl, "KL (step)"), new("step", Llike, "L_llike (step)"),
            new("test", Metrics.Kl, "test KL (epoch)"), new("test", Llike, "test L_llike (epoch)"),
        ]) { LogScale = true },
        new("discriminator", "Discriminator's mean output D(x)", "probability",
        [
            new("step", RealScore, "real images (step)"), new("step", FakeScore, "prior samples (step)"),
            new("test", RealScore, "real test images (epoch)"), new("test", FakeScore, "prior samples (epoch)"),
        ]),
    ];
    const int Side = 28;
    readonly ConvVae vae;
    readonly Sequential features;                                            // Dis_l: x [B, 784] → [B, 64·7·7]
    readonly Linear judge;                                                   // Dis_l(x) → logit of "x is real", [B, 1]

    /// <summary>γ: the weight of L_llike against the GAN loss in the decoder's update (Larsen et al., equation 9).</summary>
    public double Gamma { get; }

    /// <summary>
    /// The balance rule of Larsen et al.'s released code: the discriminator's cross-entropy on real images and on prior
    /// samples, each compared with its equilibrium ln 2 ≈ 0.69. Below it by more than the margin, the discriminator
    /// is winning and does not learn this step; above it by more, it is losing and the decoder's GAN term waits.
    /// </summary>
    const double Equilibrium = 0.68, Margin = 0.35;
    double _realLoss = Equilibrium, _fakeLoss = Equilibrium;
    bool DiscriminatorLearns => !(_realLoss < Equilibrium - Margin || _fakeLoss < Equilibrium - Margin) || !DecoderFoolsIt;
    bool DecoderFoolsIt => !(_realLoss > Equilibrium + Margin || _fakeLoss > Equilibrium + Margin);

    public VaeGan(int latent = 50, double gamma = 1e-2) : base(nameof(VaeGan))
    {
        Gamma = gamma;
        vae = new ConvVae(latent);
        features = Sequential(
            Unflatten(1, [1, Side, Side]),
            Conv2d(1, 32, 4, stride: 2, padding: 1), LeakyReLU(0.2),         // [B, 32, 14, 14]
            Conv2d(32, 64, 4, stride: 2, padding: 1), LeakyReLU(0.2),        // [B, 64, 7, 7]: the l-th layer
            Flatten());
        judge = Linear(64 * 7 * 7, 1);
        RegisterComponents();
    }

    public override int Latent => vae.Latent;

    public override Generator? Noise
    {
        get => base.Noise;
        set { base.Noise = value; vae.Noise = value; }
    }

    public override (Tensor Mu, Tensor LogVar) Encode(Tensor x, Tensor? labels) => vae.Encode(x);
    public override Tensor Decode(Tensor z, Tensor? labels) => vae.Decode(z, null);

    /// <summary>The discriminator's parameters: Dis_l's and the judge's.</summary>
    public IEnumerable<Parameter> DiscriminatorParameters() => [.. features.parameters(), .. judge.parameters()];
    public IEnumerable<Parameter> EncoderParameters() => vae.EncoderParameters();
    public IEnumerable<Parameter> DecoderParameters() => vae.DecoderParameters();

    /// <summary>
    /// Takes <paramref name="networks"/> out of autograd while a loss is built: its backward then flows through their
    /// layers to the network being updated but leaves no gradient in them (Algorithm 1 updates each network by its own
    /// loss only; in particular L_llike never reaches the discriminator). Restored when disposed, after the forward:
    /// the graph already recorded that they needed none.
    /// </summary>
    static IDisposable Frozen(params IEnumerable<Parameter>[] networks)
    {
        var frozen = networks.SelectMany(n => n).Where(p => p.requires_grad).ToList();
        foreach (var p in frozen) p.requires_grad = false;
        return new Restore(() => { foreach (var p in frozen) p.requires_grad = true; });
    }

    sealed class Restore(Action restore) : IDisposable
    {
        public void Dispose() => restore();
    }

    /// <summary>Dis_l(x) [B, 3136] and the logit of Dis(x) [B].</summary>
    (Tensor Features, Tensor Logit) Discriminate(Tensor x)
    {
        var f = features.forward(x);
        return (f, judge.forward(f).squeeze(1));
    }

    /// <summary>One pass of the VAE half: q(z|x)'s parameters, x̃ = Dec(z) with z ~ q(z|x), x_p = Dec(z_p) with z_p ~ N(0, I); images [B, 784].</summary>
    (Tensor Mu, Tensor LogVar, Tensor Reconstruction, Tensor Prior) Generate(Tensor x)
    {
        var (mu, logVar) = vae.Encode(x);
        var reconstruction = vae.DecodeLogits(Reparameterize(mu, logVar, Noise)).sigmoid();
        var zp = Noise is null ? randn_like(mu) : randn(mu.shape, generator: Noise);
        return (mu, logVar, reconstruction, vae.DecodeLogits(zp).sigmoid());
    }

    /// <summary>L_llike per image, [B]: ½‖Dis_l(x) − Dis_l(x̃)‖², the Gaussian's negative log-density up to a constant.</summary>
    static Tensor LearnedSimilarity(Tensor realFeatures, Tensor fakeFeatures) => (realFeatures - fakeFeatures).Square().sum(1).mul_(Scalars.Of(0.5));

    static Tensor Kl(Tensor mu, Tensor logVar) => mu.Square().Plus(logVar.exp()).sub_(logVar).sub_(Scalars.One).sum(1).mul_(Scalars.Of(0.5));

    static Tensor Bce(Tensor logits, bool real) =>
        functional.binary_cross_entropy_with_logits(logits, real ? ones_like(logits) : zeros_like(logits));

    /// <summary>−L_GAN for the discriminator: real images as real, reconstructions and prior samples as fake (no gradient into the VAE).</summary>
    public Loss DiscriminatorStep(Batch batch)
    {
        var x = batch.X!;
        Tensor reconstruction, prior;
        using (no_grad()) (_, _, reconstruction, prior) = Generate(x);
        var real = Discriminate(x).Logit;
        var fake = Discriminate(prior).Logit;
        var (realLoss, fakeLoss) = (Bce(real, true), Bce(fake, false));
        (_realLoss, _fakeLoss) = (realLoss.item<float>(), fakeLoss.item<float>());
        var loss = realLoss.Plus(Bce(Discriminate(reconstruction).Logit, false)).Plus(fakeLoss);
        return new(loss, new Dictionary<string, Tensor>
        {
            [DiscriminatorLoss] = loss, [RealScore] = real.sigmoid().mean(), [FakeScore] = fake.sigmoid().mean(),
        });
    }

    /// <summary>The encoder's L_prior + L_llike and the decoder's γ·L_llike − L_GAN, from one pass; each update steps its own half.</summary>
    Loss VaeStep(Batch batch, bool encoder)
    {
        var x = batch.X!;
        // The encoder's loss reaches it through the decoder, the decoder's through the discriminator: neither keeps any.
        using var _ = encoder ? Frozen(DecoderParameters(), DiscriminatorParameters()) : Frozen(EncoderParameters(), DiscriminatorParameters());
        var (mu, logVar, reconstruction, prior) = Generate(x);
        Tensor realFeatures;
        using (no_grad()) realFeatures = Discriminate(x).Features;
        var (fakeFeatures, fakeLogit) = Discriminate(reconstruction);
        var llike = LearnedSimilarity(realFeatures, fakeFeatures).mean();
        if (encoder)
        {
            var kl = Kl(mu, logVar).mean();
            var loss = kl.Plus(llike);
            return new(loss, new Dictionary<string, Tensor> { [Metrics.Kl] = kl, [Llike] = llike, [EncoderLoss] = loss });
        }
        var gan = Bce(fakeLogit, true).Plus(Bce(Discriminate(prior).Logit, true));
        var objective = llike.mul(Scalars.Of(Gamma));
        var whole = objective.Plus(gan);
        return new(DecoderFoolsIt ? whole : objective, new Dictionary<string, Tensor> { [GeneratorLoss] = gan, [DecoderLoss] = whole });
    }

    /// <summary>The encoder's loss, for runs with a single optimizer (not used by <see cref="Stages"/>).</summary>
    public override Loss Loss(Batch batch) => VaeStep(batch, encoder: true);

    /// <summary>Discriminator first (Adam β1 = 0.5, as for GANs), then the encoder, then the decoder (β1 = 0.5).</summary>
    public override IReadOnlyList<Stage> Stages(RunConfig config, TrainingData data) =>
    [
        new Stage("", config.Epochs,
        [
            new Update("discriminator", DiscriminatorParameters(), config.LearningRate, DiscriminatorStep) { Beta1 = 0.5, Active = () => DiscriminatorLearns },
            new Update("encoder", EncoderParameters(), config.LearningRate, b => VaeStep(b, encoder: true)),
            new Update("decoder", DecoderParameters(), config.LearningRate, b => VaeStep(b, encoder: false)) { Beta1 = 0.5 },
        ])
        { Binarize = false, Evaluate = set => Evaluate(set, Binarization.None) },
    ];

    /// <summary>Test KL and L_llike per image, and the discriminator's mean output on real test images and on prior samples.</summary>
    public override Dictionary<string, double> Evaluate(ImageSet set, Binarization binarize)
    {
        using var _ = no_grad();
        bool wasTraining = training;
        eval();
        var saved = Noise;
        Noise = new Generator((ulong)Evaluation.EvaluationSeed);
        double kl = 0, llike = 0, real = 0, fake = 0;
        for (long start = 0; start < set.Count; start += 500)
        {
            using var scope = NewDisposeScope();
            var x = set.Images.narrow(0, start, Math.Min(500, set.Count - start));
            var (mu, logVar, reconstruction, prior) = Generate(x);
            var (realFeatures, realLogit) = Discriminate(x);
            kl += Kl(mu, logVar).sum().item<float>();
            llike += LearnedSimilarity(realFeatures, Discriminate(reconstruction).Features).sum().item<float>();
            real += realLogit.sigmoid().sum().item<float>();
            fake += Discriminate(prior).Logit.sigmoid().sum().item<float>();
        }
        Noise = saved;
        train(wasTraining);
        return new() { [Metrics.Kl] = kl / set.Count, [Llike] = llike / set.Count, [RealScore] = real / set.Count, [FakeScore] = fake / set.Count };
    }
}
