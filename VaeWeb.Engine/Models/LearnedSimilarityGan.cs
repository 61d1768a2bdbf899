using TorchSharp.Modules;
using VaeWeb.Engine.Data;
using VaeWeb.Engine.Native;
using VaeWeb.Engine.Training;
using static TorchSharp.torch;

namespace VaeWeb.Engine.Models;

/// <summary>
/// What VAE-GAN and CVAE-GAN share (Larsen, Sønderby, Larochelle &amp; Winther 2016, "Autoencoding beyond pixels using a
/// learned similarity metric", Section 2 and Algorithm 1): the losses, the three updates, the balance rule, the
/// evaluation and the charts. Subclasses give the networks — encoder q(z|x[,y]), decoder Dec(z[,y]) and discriminator
/// Dis(x[,y]) with its l-th layer Dis_l — and whether they see the label y; a conditional model gets each batch's
/// labels and feeds them to all three (its prior samples x_p are drawn for the batch's labels).
/// Losses: L_prior = KL(q(z|x) || N(0, I)); L_llike = −log N(Dis_l(x) | Dis_l(x̃), I) with x̃ = Dec(z), z ~ q(z|x);
/// L_GAN = log Dis(x) + log(1 − Dis(x̃)) + log(1 − Dis(x_p)) with x_p = Dec(z_p), z_p ~ N(0, I). The encoder descends
/// L_prior + L_llike, the decoder γ·L_llike − L_GAN (non-saturating: −log Dis(fake)), the discriminator −L_GAN;
/// L_llike never updates the discriminator. Images are grey levels: a discriminator would tell binary real digits from
/// grey decoder means.
/// </summary>
public abstract class LearnedSimilarityGan(string name, double gamma) : GenerativeModel(name)
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
    /// images and on prior samples (L_GAN's two sides, Section 2.2), which the balance rule keeps from the extremes.
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

    /// <summary>γ: the weight of L_llike against the GAN loss in the decoder's update (Larsen et al., equation 9).</summary>
    public double Gamma { get; } = gamma;

    readonly GanBalance balance = new();

    /// <summary>Whether the networks see the label y (each batch's labels, or the test set's in evaluation).</summary>
    protected abstract bool SeesLabels { get; }

    /// <summary>z [B, Latent] (and labels [B] when it sees them) → Bernoulli logits of Dec(z[,y]), [B, 784].</summary>
    protected abstract Tensor DecodeLogits(Tensor z, Tensor? labels);

    /// <summary>x [B, 784] (and labels [B]) → Dis_l(x[,y]) [B, F] and the logit of Dis(x[,y]) [B].</summary>
    protected abstract (Tensor Features, Tensor Logit) Discriminate(Tensor x, Tensor? labels);

    public abstract IEnumerable<Parameter> DiscriminatorParameters();
    public abstract IEnumerable<Parameter> EncoderParameters();
    public abstract IEnumerable<Parameter> DecoderParameters();

    /// <summary>Dec(z[,y]) as pixel intensities, [n, 784].</summary>
    public override Tensor Decode(Tensor z, Tensor? labels) => DecodeLogits(z, labels).sigmoid();

    /// <summary>One pass of the VAE half: q(z|x)'s parameters, x̃ = Dec(z) with z ~ q(z|x), x_p = Dec(z_p) with z_p ~ N(0, I); images [B, 784].</summary>
    (Tensor Mu, Tensor LogVar, Tensor Reconstruction, Tensor Prior) Generate(Tensor x, Tensor? labels)
    {
        var (mu, logVar) = Encode(x, labels);
        var reconstruction = DecodeLogits(Reparameterize(mu, logVar, Noise), labels).sigmoid();
        var zp = Noise is null ? randn_like(mu) : randn(mu.shape, generator: Noise);
        return (mu, logVar, reconstruction, DecodeLogits(zp, labels).sigmoid());
    }

    /// <summary>L_llike per image, [B]: ½‖Dis_l(x) − Dis_l(x̃)‖², the Gaussian's negative log-density up to a constant.</summary>
    static Tensor LearnedSimilarity(Tensor realFeatures, Tensor fakeFeatures) => (realFeatures - fakeFeatures).Square().sum(1).mul_(Scalars.Of(0.5));

    static Tensor Kl(Tensor mu, Tensor logVar) => mu.Square().Plus(logVar.exp()).sub_(logVar).sub_(Scalars.One).sum(1).mul_(Scalars.Of(0.5));

    Tensor? LabelsOf(Batch batch) => SeesLabels ? batch.Labels ?? throw new ArgumentException($"{GetName()} needs each image's label.") : null;

    /// <summary>−L_GAN for the discriminator: real images as real, reconstructions and prior samples as fake (no gradient into the VAE).</summary>
    public Loss DiscriminatorStep(Batch batch)
    {
        var (x, y) = (batch.X!, LabelsOf(batch));
        Tensor reconstruction, prior;
        using (no_grad()) (_, _, reconstruction, prior) = Generate(x, y);
        var real = Discriminate(x, y).Logit;
        var fake = Discriminate(prior, y).Logit;
        var (realLoss, fakeLoss) = (Gan.Bce(real, true), Gan.Bce(fake, false));
        balance.Observe(realLoss, fakeLoss);
        var loss = realLoss.Plus(Gan.Bce(Discriminate(reconstruction, y).Logit, false)).Plus(fakeLoss);
        return new(loss, new Dictionary<string, Tensor>
        {
            [DiscriminatorLoss] = loss, [RealScore] = real.sigmoid().mean(), [FakeScore] = fake.sigmoid().mean(),
        });
    }

    /// <summary>The encoder's L_prior + L_llike and the decoder's γ·L_llike − L_GAN, from one pass; each update steps its own half.</summary>
    Loss VaeStep(Batch batch, bool encoder)
    {
        var (x, y) = (batch.X!, LabelsOf(batch));
        // The encoder's loss reaches it through the decoder, the decoder's through the discriminator: neither keeps any.
        using var _ = encoder ? Gan.Frozen(DecoderParameters(), DiscriminatorParameters()) : Gan.Frozen(EncoderParameters(), DiscriminatorParameters());
        var (mu, logVar, reconstruction, prior) = Generate(x, y);
        Tensor realFeatures;
        using (no_grad()) realFeatures = Discriminate(x, y).Features;
        var (fakeFeatures, fakeLogit) = Discriminate(reconstruction, y);
        var llike = LearnedSimilarity(realFeatures, fakeFeatures).mean();
        if (encoder)
        {
            var kl = Kl(mu, logVar).mean();
            var loss = kl.Plus(llike);
            return new(loss, new Dictionary<string, Tensor> { [Metrics.Kl] = kl, [Llike] = llike, [EncoderLoss] = loss });
        }
        var gan = Gan.Bce(fakeLogit, true).Plus(Gan.Bce(Discriminate(prior, y).Logit, true));
        var objective = llike.mul(Scalars.Of(Gamma));
        var whole = objective.Plus(gan);
        return new(balance.GeneratorFoolsIt ? whole : objective, new Dictionary<string, Tensor> { [GeneratorLoss] = gan, [DecoderLoss] = whole });
    }

    /// <summary>The encoder's loss, for runs with a single optimizer (not used by <see cref="Stages"/>).</summary>
    public override Loss Loss(Batch batch) => VaeStep(batch, encoder: true);

    /// <summary>Discriminator first (Adam β1 = 0.5, as for GANs), then the encoder, then the decoder (β1 = 0.5).</summary>
    public override IReadOnlyList<Stage> Stages(RunConfig config, TrainingData data) =>
    [
        new Stage("", config.Epochs,
        [
            new Update("discriminator", DiscriminatorParameters(), config.LearningRate, DiscriminatorStep) { Beta1 = 0.5, Active = () => balance.DiscriminatorLearns },
            new Update("encoder", EncoderParameters(), config.LearningRate, b => VaeStep(b, encoder: true)),
            new Update("decoder", DecoderParameters(), config.LearningRate, b => VaeStep(b, encoder: false)) { Beta1 = 0.5 },
        ])
        { Binarize = false, Evaluate = set => Evaluate(set, Binarization.None) },
    ];

    /// <summary>Test KL and L_llike per image, and the discriminator's mean output on real test images and on prior samples (for the test labels).</summary>
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
            long size = Math.Min(500, set.Count - start);
            var x = set.Images.narrow(0, start, size);
            var y = SeesLabels ? set.Labels.narrow(0, start, size) : null;
            var (mu, logVar, reconstruction, prior) = Generate(x, y);
            var (realFeatures, realLogit) = Discriminate(x, y);
            kl += Kl(mu, logVar).sum().item<float>();
            llike += LearnedSimilarity(realFeatures, Discriminate(reconstruction, y).Features).sum().item<float>();
            real += realLogit.sigmoid().sum().item<float>();
            fake += Discriminate(prior, y).Logit.sigmoid().sum().item<float>();
        }
        Noise = saved;
        train(wasTraining);
        return new() { [Metrics.Kl] = kl / set.Count, [Llike] = llike / set.Count, [RealScore] = real / set.Count, [FakeScore] = fake / set.Count };
    }
}
