using TorchSharp;
using VaeWeb.Engine.Data;
using VaeWeb.Engine.Native;
using VaeWeb.Engine.Training;
using static TorchSharp.torch;

namespace VaeWeb.Engine.Models;

/// <summary>
/// The stacked model M1+M2 of Kingma et al. (2014), Section 3.1.3: M1, a VAE trained first on all images without
/// labels, gives each image a latent z1 ~ q(z1|x), drawn afresh at every minibatch; M2 with a Gaussian p(z1|y,z2)
/// learns from those z1, labeled and unlabeled, and classifies them. The pixel model stays with M1, so M2 works in a
/// 50-dimensional space where its ten passes per unlabeled image cost little. Two stages: M1 on pixels, then M2 on z1.
/// </summary>
public sealed class M1M2 : GenerativeModel
{
    /// <summary>
    /// A unit of M1 is active when the variance over the data of its posterior mean exceeds this (Burda et al. 2015,
    /// Section 5.2). The others carry no information about x; M2 neither sees nor models them.
    /// </summary>
    public const double ActivityThreshold = 1e-2;
    public const string M1Elbo = "m1-elbo";

    readonly Vae m1;
    readonly M2 m2;

    public Vae M1 => m1;
    public M2 M2 => m2;

    public M1M2(int pixels = 784, int m1Latent = 50, int[]? m1Hidden = null, int latent = 50, int[]? hidden = null) : base(nameof(M1M2))
    {
        m1 = new Vae(pixels, m1Latent, m1Hidden);
        m2 = new M2(m1Latent, latent, hidden ?? [500], gaussian: true);
        FeatureMean = zeros(m1Latent);
        FeatureScale = ones(m1Latent);
        Active = ones(m1Latent);
        register_buffer("feature_mean", FeatureMean);
        register_buffer("feature_scale", FeatureScale);
        register_buffer("active", Active);
        m2.Generative.Observed = Active;
        RegisterComponents();
    }

    /// <summary>Per-unit mean and spread of M1's posterior means over the training pool, [m1Latent] each; saved with the model.</summary>
    public Tensor FeatureMean { get; }
    public Tensor FeatureScale { get; }
    /// <summary>[m1Latent]: 1 for M1's active units, 0 for the rest; saved with the model.</summary>
    public Tensor Active { get; }

    public override int Latent => m2.Latent;

    public override Generator? Noise
    {
        get => base.Noise;
        set { base.Noise = value; m1.Noise = value; m2.Noise = value; }
    }

    /// <summary>z1 standardized with the pool's statistics, inactive units zeroed, [B, m1Latent].</summary>
    Tensor Standardize(Tensor z1) => (z1 - FeatureMean).div(FeatureScale).mul(Active);

    /// <summary>
    /// M2's input, [B, m1Latent]: in training (<paramref name="sample"/>) z1 ~ q(z1|x) drawn from <see cref="Noise"/>, afresh
    /// at every minibatch as in the paper; for evaluation and exploration the posterior mean of q(z1|x).
    /// </summary>
    public Tensor Features(Tensor x, bool sample = false)
    {
        using var _ = no_grad();                                             // M1 is frozen by then
        var (mu, logVar) = m1.Encode(x);
        return Standardize(sample ? Reparameterize(mu, logVar, Noise) : mu);
    }

    /// <summary>Logits of q(y|z1(x)), [B, 10].</summary>
    public override Tensor Classify(Tensor x) => m2.Classify(Features(x));

    /// <summary>M2's q(z2|z1(x),y), each [B, Latent].</summary>
    public override (Tensor Mu, Tensor LogVar) Encode(Tensor x, Tensor? labels) => m2.Encode(Features(x), labels);

    /// <summary>Pixel intensities of the image M1 decodes from M2's mean of p(z1|y,z2): z2 [n, Latent], labels [n] → [n, 784].</summary>
    public override Tensor Decode(Tensor z, Tensor? labels) => m1.Decode(m2.Decode(z, labels).mul(Active).mul(FeatureScale).Plus(FeatureMean), null);

    /// <summary>J^α of M2 on z1 drawn from q(z1|x) for the batch's images.</summary>
    public override Loss Loss(Batch batch) => m2.Loss(batch with
    {
        X = batch.X is null ? null : Features(batch.X, sample: true),
        LabeledX = batch.LabeledX is null ? null : Features(batch.LabeledX, sample: true),
    });

    /// <summary>Classification error on the set's fixed binarization, and M1's ELBO on it (nats per image).</summary>
    public override Dictionary<string, double> Evaluate(ImageSet set, Binarization binarize)
    {
        using var images = Evaluation.FixedBinarization(set, binarize);
        return new()
        {
            [Metrics.Error] = Evaluation.ErrorPercent(Classify, images, set.Labels),
            [M1Elbo] = Evaluation.Elbo(m1, set, binarize)[Metrics.Elbo],
        };
    }

    /// <summary>M1 on every pool image's pixels, labels unused; then M2 on M1's latents, which it models as real values.</summary>
    public override IReadOnlyList<Stage> Stages(RunConfig config, TrainingData data)
    {
        m2.Configure(config, data);
        return
        [
            new Stage("m1", config.M1Epochs, [new Update("m1", m1.parameters(), config.LearningRate, m1.Loss)]) { UsesLabels = false },
            new Stage("", config.Epochs, [new Update("m2", m2.parameters(), config.LearningRate, Loss)])
            {
                Inputs = pixels => Freeze(pixels, config.Binarize), Evaluate = set => Evaluate(set, config.Binarize),
            },
        ];
    }

    /// <summary>
    /// Freezes M1 after its stage and measures, on the pool's fixed binarization, which of its units are active and
    /// the mean and spread of the active ones' posterior means. Returns the data unchanged: M2 trains on pixels that
    /// <see cref="Loss"/> turns into z1.
    /// </summary>
    TrainingData Freeze(TrainingData pixels, Binarization binarize)
    {
        m1.eval();
        foreach (var p in m1.parameters()) p.requires_grad = false;
        using (no_grad())
        using (NewDisposeScope())
        {
            using var images = Evaluation.FixedBinarization(pixels.Pool, binarize);
            var means = cat(Enumerable.Range(0, (int)((pixels.Pool.Count + 999) / 1000))
                .Select(i => m1.Encode(images.narrow(0, i * 1000L, Math.Min(1000, pixels.Pool.Count - i * 1000L))).Mu).ToList(), 0);   // [N, m1Latent]
            var variance = means.var(0);
            var active = variance.gt(Scalars.Of(ActivityThreshold));
            Active.copy_(active.to(ScalarType.Float32));
            FeatureMean.copy_(means.mean([0]));
            FeatureScale.copy_(where(active, variance.sqrt(), ones_like(variance)));   // inactive units: zeroed anyway
        }
        return pixels;
    }
}
