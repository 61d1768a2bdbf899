using TorchSharp.Modules;
using VaeWeb.Engine.Data;
using VaeWeb.Engine.Training;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VaeWeb.Engine.Models;

/// <summary>
/// CVAE-GAN: Larsen et al.'s VAE-GAN (2016; losses, updates and balance rule in <see cref="LearnedSimilarityGan"/>)
/// conditioned on the class label as the poster's CVAE is (Sohn et al. 2015): the encoder q(z|x,y), the decoder
/// Dec(z,y) and the discriminator Dis(x,y) all see y one-hot, so Dis judges whether x is a real image of class y and
/// L_llike compares x and x̃ in features of (x, y). Prior samples x_p = Dec(z_p, y) take the batch's labels. Keeping z
/// and changing y restyles a digit. Sizes are <see cref="VaeGan"/>'s, with y added: as ten constant 28x28 planes beside
/// the image at the encoder's and the discriminator's first convolution ([B, 11, 28, 28]), and beside z at the
/// decoder's first layer ([B, Latent + 10]).
/// </summary>
public sealed class CvaeGan : LearnedSimilarityGan
{
    const int Classes = Cvae.Classes;
    readonly Sequential encoder, decoder;                                    // [x; y planes] → [B, 256]; [z; y] → logits [B, 784]
    readonly Linear q;                                                       // → μ and log σ² of q(z|x,y), [B, 2·Latent]
    readonly Sequential features;                                            // Dis_l: [x; y planes] → [B, 64·7·7]
    readonly Linear judge;                                                   // Dis_l(x, y) → logit of "x is a real y", [B, 1]

    public override int Latent { get; }
    public override ImageShape Image { get; }

    /// <param name="image">The images' shape (null: 28x28 grey); colour: 3 image planes beside the ten label planes,
    /// 32→16→8, and the decoder's 3 planes of sigmoid means.</param>
    /// <param name="nonlinearity">The encoder's and decoder's hidden units (<see cref="RunConfig.ConvNonlinearity"/>).</param>
    public CvaeGan(int latent = 50, double gamma = 1e-2, ImageShape? image = null, Nonlinearity nonlinearity = Nonlinearity.Relu) : base(nameof(CvaeGan), gamma)
    {
        Latent = latent;
        Image = image ??= ImageShape.Grey28;
        int c = image.Channels;
        encoder = ConvVae.EncoderNetwork(c + Classes, image, nonlinearity); // [x; y planes] → [B, 256]
        q = Linear(ConvVae.Hidden, 2 * latent);
        decoder = ConvVae.DecoderNetwork(latent + Classes, c, image, nonlinearity);   // [z; y] → [B, C·H·W] logits
        features = Gan.DiscriminatorFeatures(c + Classes, flatInput: false, image: image);   // [x; y planes] → Dis_l [B, 64·H/4·W/4]
        judge = Linear(Gan.FeatureSizeOf(image), 1);
        RegisterComponents();
    }

    protected override bool SeesLabels => true;

    static Tensor Labels(Tensor? labels) => labels ?? throw new ArgumentException("The CVAE-GAN needs each image's label.", nameof(labels));

    /// <summary>q(z|x,y): x [B, 784], labels [B] → mean and log-variance, each [B, Latent].</summary>
    public override (Tensor Mu, Tensor LogVar) Encode(Tensor x, Tensor? labels)
    {
        var muLogVar = q.forward(encoder.forward(ConvVae.WithLabelPlanes(x, Labels(labels), Image))).chunk(2, 1);
        return (muLogVar[0], muLogVar[1]);
    }

    /// <summary>Dec(z, y): z [n, Latent], labels [n] → Bernoulli logits [n, 784].</summary>
    protected override Tensor DecodeLogits(Tensor z, Tensor? labels) => decoder.forward(cat([z, Cvae.OneHot(Labels(labels), z)], 1));

    /// <summary>Dis_l(x, y) [B, 3136] and the logit of Dis(x, y) [B].</summary>
    protected override (Tensor Features, Tensor Logit) Discriminate(Tensor x, Tensor? labels)
    {
        var f = features.forward(ConvVae.WithLabelPlanes(x, Labels(labels), Image));
        return (f, judge.forward(f).squeeze(1));
    }

    public override IEnumerable<Parameter> DiscriminatorParameters() => [.. features.parameters(), .. judge.parameters()];
    public override IEnumerable<Parameter> EncoderParameters() => [.. encoder.parameters(), .. q.parameters()];
    public override IEnumerable<Parameter> DecoderParameters() => decoder.parameters();
}
