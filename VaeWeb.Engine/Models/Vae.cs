using TorchSharp.Modules;
using VaeWeb.Engine.Data;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VaeWeb.Engine.Models;

/// <summary>
/// The fully connected VAE of Kingma &amp; Welling (2013), Appendix C.2, with the poster's 784-500-500-z encoder and a
/// mirrored decoder. Softplus hidden units, as in the paper's MNIST experiments. For a colour dataset the input is the
/// image's 3072 values and the decoder's last layer gives a discretized logistic's mean and log-scale per sub-pixel.
/// </summary>
public sealed class Vae : VariationalAutoencoder
{
    readonly Sequential encoder, decoder;
    // One layer gives mean and log-variance together ([B, 2·Latent]): one matrix product instead of two.
    readonly Linear q;
    readonly Linear[] linears;

    public Vae(int pixels = 784, int latent = 50, int[]? hidden = null) : this(latent, hidden, ImageShape.Grey(pixels)) { }

    public Vae(int latent, int[]? hidden, ImageShape image) : base(nameof(Vae), latent, image)
    {
        int pixels = image.Pixels;
        hidden ??= [500, 500];
        var encoderLayers = new List<Linear>();
        var decoderLayers = new List<Linear>();
        int width = pixels;
        foreach (var h in hidden) { encoderLayers.Add(Linear(width, h)); width = h; }
        q = Linear(width, 2 * latent);
        width = latent;
        foreach (var h in hidden.Reverse()) { decoderLayers.Add(Linear(width, h)); width = h; }
        decoderLayers.Add(Linear(width, OutputsPerPixel * pixels));            // [B, D] logits or [B, 2D] logistic parameters

        encoder = Sequential(encoderLayers.SelectMany(l => new Module<Tensor, Tensor>[] { l, Softplus() }));
        decoder = Sequential(decoderLayers.SelectMany((l, i) => i < decoderLayers.Count - 1
            ? new Module<Tensor, Tensor>[] { l, Softplus() } : [l]));
        linears = [.. encoderLayers, q, .. decoderLayers];
        RegisterComponents();
    }

    public override (Tensor Mu, Tensor LogVar) Encode(Tensor x)
    {
        var muLogVar = q.forward(encoder.forward(x)).chunk(2, 1);
        return (muLogVar[0], muLogVar[1]);
    }

    public override Tensor DecodeLogits(Tensor z) => decoder.forward(z);

    public override long TrainingFlopsPerImage => LinearTrainingFlops(linears, linears[0]);
}
