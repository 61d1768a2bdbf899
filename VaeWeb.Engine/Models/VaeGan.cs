using TorchSharp.Modules;
using VaeWeb.Engine.Data;
using VaeWeb.Engine.Training;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VaeWeb.Engine.Models;

/// <summary>
/// VAE-GAN (Larsen, Sønderby, Larochelle &amp; Winther 2016, "Autoencoding beyond pixels using a learned similarity
/// metric"): a VAE whose decoder is also a GAN's generator, and whose reconstruction error is measured in the
/// discriminator's l-th layer instead of in pixels. The losses, updates and balance rule are
/// <see cref="LearnedSimilarityGan"/>'s. Our sizes for 28x28: the encoder and decoder are <see cref="ConvVae"/>'s, so a
/// VAE-GAN and a conv VAE of one latent size compare network for network; the discriminator is two stride-2 4x4
/// convolutions (32, 64 channels, LeakyReLU 0.2; its second is Dis_l, [B, 64·7·7]) and a linear judge.
/// </summary>
public sealed class VaeGan : LearnedSimilarityGan
{
    readonly ConvVae vae;
    readonly Sequential features;                                            // Dis_l: x [B, 784] → [B, 64·7·7]
    readonly Linear judge;                                                   // Dis_l(x) → logit of "x is real", [B, 1]

    /// <param name="image">The images' shape (null: 28x28 grey). Colour: the conv VAE's networks on 3 planes, its decoder
    /// giving means through a sigmoid as for grey (the VAE-GAN scores reconstructions in Dis_l, not by a pixel
    /// likelihood), and a discriminator on 3 planes (Dis_l [B, 64·8·8]).</param>
    /// <param name="nonlinearity">The conv VAE's hidden units (<see cref="RunConfig.ConvNonlinearity"/>).</param>
    public VaeGan(int latent = 50, double gamma = 1e-2, ImageShape? image = null, Nonlinearity nonlinearity = Nonlinearity.Relu) : base(nameof(VaeGan), gamma)
    {
        image ??= ImageShape.Grey28;
        vae = new ConvVae(latent, image, PixelLikelihood.Bernoulli, nonlinearity);
        features = Gan.DiscriminatorFeatures(image.Channels, image: image);   // x [B, C·H·W] → Dis_l [B, 64·H/4·W/4]
        judge = Linear(Gan.FeatureSizeOf(image), 1);
        RegisterComponents();
    }

    public override int Latent => vae.Latent;
    public override ImageShape Image => vae.Image;

    public override Generator? Noise
    {
        get => base.Noise;
        set { base.Noise = value; vae.Noise = value; }
    }

    protected override bool SeesLabels => false;

    public override (Tensor Mu, Tensor LogVar) Encode(Tensor x, Tensor? labels) => vae.Encode(x);
    public override Tensor Decode(Tensor z, Tensor? labels) => vae.Decode(z, null);
    protected override Tensor DecodeLogits(Tensor z, Tensor? labels) => vae.DecodeLogits(z);

    /// <summary>The discriminator's parameters: Dis_l's and the judge's.</summary>
    public override IEnumerable<Parameter> DiscriminatorParameters() => [.. features.parameters(), .. judge.parameters()];
    public override IEnumerable<Parameter> EncoderParameters() => vae.EncoderParameters();
    public override IEnumerable<Parameter> DecoderParameters() => vae.DecoderParameters();

    /// <summary>Dis_l(x) [B, 3136] and the logit of Dis(x) [B].</summary>
    protected override (Tensor Features, Tensor Logit) Discriminate(Tensor x, Tensor? labels)
    {
        var f = features.forward(x);
        return (f, judge.forward(f).squeeze(1));
    }
}
