using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VaeWeb.Engine.Models;

/// <summary>
/// The stacked model M1+M2 of Kingma et al. (2014), Section 3.1.3: M1, a VAE trained on all images without labels,
/// gives each image the mean of q(z1|x); M2 with a Gaussian p(z1|y,z2) learns from those features, labeled and
/// unlabeled, and classifies them. The pixel model stays with M1, so M2 works in a 50-dimensional space where its ten
/// passes per unlabeled image cost little.
/// </summary>
public sealed class M1M2 : Module
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

    /// <summary>M1's features: the posterior means of q(z1|x), standardized, [B, m1Latent].</summary>
    public Tensor features(Tensor x) => (m1.encode(x).Mu - FeatureMean) / FeatureScale;

    /// <summary>Logits of q(y|z1(x)), [B, 10].</summary>
    public Tensor classify(Tensor x) => m2.classify(features(x));

    /// <summary>Pixels of M1's decoding of standardized features z1 [B, m1Latent].</summary>
    public Tensor decodeFeatures(Tensor z1) => m1.decode(z1 * FeatureScale + FeatureMean).sigmoid_();

    /// <summary>Pixel intensities of the image M1 decodes from M2's mean of p(z1|y,z2): z2 [n, Latent], labels [n] → [n, 784].</summary>
    public Tensor decode(Tensor z2, Tensor labels)
    {
        var z1 = m2.Generative.decode(z2, functional.one_hot(labels, M2.Classes).to(z2.dtype)).chunk(2, 1)[0];
        return m1.decode(z1 * FeatureScale + FeatureMean).sigmoid_();
    }
}
