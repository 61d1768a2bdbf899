using TorchSharp.Modules;
using VaeWeb.Engine.Data;
using VaeWeb.Engine.Training;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VaeWeb.Engine.Models;

/// <summary>
/// A convolutional VAE: two stride-2 convolutions encode (28→14→7 for MNIST, 32→16→8 for 32×32×3 colour), two
/// transposed convolutions decode. Grey images: the Bernoulli likelihood and loss of <see cref="Vae"/>. Colour images:
/// the decoder's last layer gives 2·C planes, a discretized logistic's means then log-scales per sub-pixel
/// (<see cref="DiscretizedLogistic"/>). Convolutions share weights across the image, which the poster found gives the
/// better semi-supervised classifier. The layers (and so the checkpoints) of the 28×28 grey model are as before.
/// </summary>
public sealed class ConvVae : VariationalAutoencoder
{
    internal const int C1 = 32, C2 = 64, Hidden = 256;
    readonly Sequential encoder, decoder;
    readonly Linear q;
    // Side of the feature maps after two stride-2 layers: 7 for 28×28, 8 for 32×32.
    readonly int quarter;

    /// <param name="image">The images' shape (sides divisible by 4); null: MNIST's 28×28 grey.</param>
    /// <param name="likelihood">p(x|z); null: Bernoulli for grey, discretized logistic for colour. The VAE-GAN asks for
    /// Bernoulli-style single outputs (its decoder's means) on colour too.</param>
    /// <param name="nonlinearity">The hidden units of encoder and decoder (<see cref="RunConfig.ConvNonlinearity"/>).</param>
    public ConvVae(int latent = 50, ImageShape? image = null, PixelLikelihood? likelihood = null, Nonlinearity nonlinearity = Nonlinearity.Relu)
        : base(nameof(ConvVae), latent, image, likelihood)
    {
        if (Image.Height != Image.Width || Image.Height % 4 != 0) throw new ArgumentException($"The conv VAE takes square images with sides divisible by 4 (got {Image}).");
        quarter = Image.Height / 4;
        int channels = Image.Channels;
        encoder = EncoderNetwork(channels, Image, nonlinearity);            // [B, C, H, W] → [B, 256]
        q = Linear(Hidden, 2 * latent);
        // [B, D] logits, or [B, 2D]: C mean planes then C log-scale planes
        decoder = DecoderNetwork(latent, OutputsPerPixel * channels, Image, nonlinearity);
        RegisterComponents();
    }

    /// <summary>
    /// The encoder's layers, shared by the conv VAE, the conv CVAE and the VAE-GAN family: [B, <paramref name="planes"/>,
    /// H, W] (the image's planes, and ten label planes for the conditional models) → [B, 256].
    /// </summary>
    internal static Sequential EncoderNetwork(int planes, ImageShape image, Nonlinearity nonlinearity)
    {
        int f = image.Height / 4;
        var h = Units(nonlinearity);
        return Sequential(
            Conv2d(planes, C1, 4, stride: 2, padding: 1), h(),               // [B, 32, H/2, W/2]: 14×14 or 16×16
            Conv2d(C1, C2, 4, stride: 2, padding: 1), h(),                   // [B, 64, H/4, W/4]: 7×7 or 8×8
            Flatten(), Linear(C2 * f * f, Hidden), h());                     // [B, 256]
    }

    /// <summary>
    /// The decoder's layers, shared likewise: [B, <paramref name="inputs"/>] (z, and y one-hot for the conditional
    /// models) → [B, <paramref name="planes"/>·H·W], <paramref name="planes"/> output planes flattened.
    /// </summary>
    internal static Sequential DecoderNetwork(int inputs, int planes, ImageShape image, Nonlinearity nonlinearity)
    {
        int f = image.Height / 4;
        var h = Units(nonlinearity);
        return Sequential(
            Linear(inputs, Hidden), h(),
            Linear(Hidden, C2 * f * f), h(),
            Unflatten(1, [C2, f, f]),
            ConvTranspose2d(C2, C1, 4, stride: 2, padding: 1), h(),          // [B, 32, H/2, W/2]
            ConvTranspose2d(C1, planes, 4, stride: 2, padding: 1),           // [B, planes, H, W]
            Flatten());
    }

    /// <summary>A maker of the networks' hidden units; parameterless either way, so both build the same checkpoint layout.</summary>
    static Func<Module<Tensor, Tensor>> Units(Nonlinearity nonlinearity) => nonlinearity switch
    {
        Nonlinearity.Relu => () => ReLU(),
        Nonlinearity.Softplus => Softplus,
        _ => throw new ArgumentOutOfRangeException(nameof(nonlinearity), nonlinearity, "Use relu or softplus."),
    };

    /// <summary>
    /// The conditional models' encoder input: x [B, C·H·W] and labels [B] → the image's planes and y's one-hot as ten
    /// constant planes, [B, C + 10, H, W].
    /// </summary>
    internal static Tensor WithLabelPlanes(Tensor x, Tensor labels, ImageShape image)
    {
        long b = x.shape[0];
        var planes = Cvae.OneHot(labels, x).view(b, Cvae.Classes, 1, 1).expand(b, Cvae.Classes, image.Height, image.Width);
        return cat([x.view(b, image.Channels, image.Height, image.Width), planes], 1);
    }

    public override (Tensor Mu, Tensor LogVar) Encode(Tensor x)
    {
        var muLogVar = q.forward(encoder.forward(x.view(-1, Image.Channels, Image.Height, Image.Width))).chunk(2, 1);
        return (muLogVar[0], muLogVar[1]);
    }

    public override Tensor DecodeLogits(Tensor z) => decoder.forward(z);

    /// <summary>q(z|x)'s parameters, for a model that updates the encoder on its own (VAE-GAN).</summary>
    public IEnumerable<Parameter> EncoderParameters() => [.. encoder.parameters(), .. q.parameters()];

    /// <summary>p(x|z)'s parameters, for a model that updates the decoder on its own (VAE-GAN).</summary>
    public IEnumerable<Parameter> DecoderParameters() => decoder.parameters();

    public override long TrainingFlopsPerImage
    {
        get
        {
            // Multiply-adds of one forward pass, layer by layer; backward is twice the forward except that the first
            // convolution needs no input gradient.
            long c = Image.Channels, half = 2L * quarter, f = quarter, outC = OutputsPerPixel * c;
            long conv1 = c * C1 * 16 * half * half, conv2 = 1L * C1 * C2 * 16 * f * f;
            long fcs = C2 * f * f * Hidden + Hidden * 2 * Latent + Latent * Hidden + Hidden * C2 * f * f;
            long deconv1 = 1L * C2 * C1 * 16 * f * f, deconv2 = C1 * outC * 16 * half * half;
            long forward = 2 * (conv1 + conv2 + fcs + deconv1 + deconv2);
            return 3 * forward - 2 * 2 * conv1;
        }
    }
}
