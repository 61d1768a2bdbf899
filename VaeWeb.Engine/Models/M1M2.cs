using TorchSharp;
using VaeWeb.Engine.Data;
using VaeWeb.Engine.Native;
using VaeWeb.Engine.Training;
using static TorchSharp.torch;

namespace VaeWeb.Engine.Models;

/// <summary>
/// The stacked model M1+M2 of Kingma et al. (2014), Section 3.1.3: M1, a VAE trained on all images without labels,
/// gives each image the mean of q(z1|x); M2 with a Gaussian p(z1|y,z2) learns from those features, labeled and
/// unlabeled, and classifies them. The pixel model stays with M1, so M2 works in a 50-dimensional space where its ten
/// passes per unlabeled image cost little. Two stages: M1 on pixels, then M2 on M1's features.
/// </summary>
public sealed class M1M2 : GenerativeModel
{
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
        register_buffer("feature_mean", FeatureMean);
        register_buffer("feature_scale", FeatureScale);
        RegisterComponents();
    }

    /// <summary>Per-dimension mean and spread of M1's features over the training pool, [m1Latent] each; saved with the model.</summary>
    public Tensor FeatureMean { get; }
    public Tensor FeatureScale { get; }

    public override int Latent => m2.Latent;

    public override Generator? Noise
    {
        get => base.Noise;
        set { base.Noise = value; m1.Noise = value; m2.Noise = value; }
    }

    /// <summary>M1's features: the posterior means of q(z1|x), standardized, [B, m1Latent].</summary>
    public Tensor Features(Tensor x) => (m1.Encode(x).Mu - FeatureMean) / FeatureScale;

    /// <summary>Logits of q(y|z1(x)), [B, 10].</summary>
    public override Tensor Classify(Tensor x) => m2.Classify(Features(x));

    /// <summary>M2's q(z2|z1(x),y), each [B, Latent].</summary>
    public override (Tensor Mu, Tensor LogVar) Encode(Tensor x, Tensor? labels) => m2.Encode(Features(x), labels);

    /// <summary>Pixel intensities of the image M1 decodes from M2's mean of p(z1|y,z2): z2 [n, Latent], labels [n] → [n, 784].</summary>
    public override Tensor Decode(Tensor z, Tensor? labels) => m1.Decode(m2.Decode(z, labels).mul(FeatureScale).Plus(FeatureMean), null);

    /// <summary>J^α of M2 on a batch of M1's standardized features.</summary>
    public override Loss Loss(Batch batch) => m2.Loss(batch);

    /// <summary>Classification error on a set of M1's features.</summary>
    public override Dictionary<string, double> Evaluate(ImageSet features, Binarization binarize) => m2.Evaluate(features, Binarization.None);

    /// <summary>M1 on every pool image's pixels, labels unused; then M2 on M1's features, which it models as real values.</summary>
    public override IReadOnlyList<Stage> Stages(RunConfig config, TrainingData data)
    {
        m2.Alpha = config.Alpha > 0 ? config.Alpha : 0.1 * data.Pool.Count / data.LabeledCount;
        return
        [
            new Stage("m1", config.M1Epochs, [new Update("m1", m1.parameters(), config.LearningRate, m1.Loss)]) { UsesLabels = false },
            new Stage("", config.Epochs, [new Update("m2", m2.parameters(), config.LearningRate, m2.Loss)])
            {
                Binarize = false, Inputs = FeaturesOf, Evaluate = set => Evaluate(set, Binarization.None),
            },
        ];
    }

    /// <summary>Freezes M1 and gives the sets as its features, standardized with the pool's statistics.</summary>
    TrainingData FeaturesOf(TrainingData pixels)
    {
        m1.eval();
        foreach (var p in m1.parameters()) p.requires_grad = false;
        // Raw means first, whatever the statistics hold: a resumed run loads them with the weights, standardized twice otherwise.
        using (no_grad()) { FeatureMean.zero_(); FeatureScale.fill_(Scalars.One); }
        var pool = FeatureSet(pixels.Pool);
        // Standardized with the pool's statistics: M1's inactive units have means near zero with tiny spread,
        // and a Gaussian p(z1|y,z2) fitted to those would dominate the bound with huge densities.
        using (no_grad())
        {
            FeatureMean.copy_(pool.Images.mean([0]));
            FeatureScale.copy_(pool.Images.std(0).clamp_min_(Scalars.Of(1e-3)));
            pool.Images.sub_(FeatureMean).div_(FeatureScale);                // the features just computed, now standardized
        }
        return new TrainingData(pool, pixels.Validation is null ? null : FeatureSet(pixels.Validation), FeatureSet(pixels.Test), pixels.LabeledIndices);
    }

    /// <summary>A set of M1 features: the standardized posterior means of its grey-level images, [N, M1 latent].</summary>
    ImageSet FeatureSet(ImageSet set)
    {
        Tensor features;
        using (no_grad())
        using (NewDisposeScope())
        {
            var batches = new List<Tensor>();
            for (long start = 0; start < set.Count; start += 1000)
                batches.Add(Features(set.Images.narrow(0, start, Math.Min(1000, set.Count - start))));
            features = cat(batches, 0).DetachFromDisposeScope();
        }
        return new ImageSet(set.Name + " M1 features", features, set.Labels.alias(), 1, 1, (int)features.shape[1]);
    }
}
