using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VaeWeb.Engine.Models;

/// <summary>
/// A convolutional VAE for 28x28 images: two stride-2 convolutions (28→14→7) encode, two transposed convolutions
/// decode. Same Bernoulli likelihood and loss as <see cref="Vae"/>; convolutions share weights across the image,
/// which the poster found gives the better semi-supervised classifier.
/// </summary>
public sealed class ConvVae : VariationalAutoencoder
{
    const int C1 = 32, C2 = 64, Side = 28, Hidden = 256;
    readonly Sequential encoder, decoder;
    readonly Linear q;

    public ConvVae(int latent = 50) : base(nameof(ConvVae), latent)
    {
        encoder = Sequential(
            Conv2d(1, C1, 4, stride: 2, padding: 1), Softplus(),             // [B, 32, 14, 14]
            Conv2d(C1, C2, 4, stride: 2, padding: 1), Softplus(),            // [B, 64, 7, 7]
            Flatten(), Linear(C2 * 7 * 7, Hidden), Softplus());              // [B, 256]
        q = Linear(Hidden, 2 * latent);
        decoder = Sequential(
            Linear(latent, Hidden), Softplus(),
            Linear(Hidden, C2 * 7 * 7), Softplus(),
            Unflatten(1, [C2, 7, 7]),
            ConvTranspose2d(C2, C1, 4, stride: 2, padding: 1), Softplus(),   // [B, 32, 14, 14]
            ConvTranspose2d(C1, 1, 4, stride: 2, padding: 1),                // [B, 1, 28, 28]
            Flatten());                                                      // [B, 784] logits
        RegisterComponents();
    }

    public override (Tensor Mu, Tensor LogVar) Encode(Tensor x)
    {
        var muLogVar = q.forward(encoder.forward(x.view(-1, 1, Side, Side))).chunk(2, 1);
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
            long conv1 = 1L * C1 * 16 * 14 * 14, conv2 = 1L * C1 * C2 * 16 * 7 * 7;
            long fcs = C2 * 7 * 7 * Hidden + Hidden * 2 * Latent + Latent * Hidden + Hidden * C2 * 7 * 7;
            long deconv1 = 1L * C2 * C1 * 16 * 7 * 7, deconv2 = 1L * C1 * 16 * 14 * 14;
            long forward = 2 * (conv1 + conv2 + fcs + deconv1 + deconv2);
            return 3 * forward - 2 * 2 * conv1;
        }
    }
}
