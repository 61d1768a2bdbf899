using TorchSharp.Modules;
using VaeWeb.Engine.Data;
using static TorchSharp.torch;

namespace VaeWeb.Engine.Models;

/// <summary>
/// The balance rule of Larsen et al.'s released VAE-GAN code (Larsen, Sønderby, Larochelle &amp; Winther 2016), shared
/// by the GANs here that have it (VAE-GAN, CVAE-GAN, DRAW-GAN): the discriminator's cross-entropy on real images and on
/// prior samples, each compared with its equilibrium ln 2 ≈ 0.69. Below it by more than the margin, the discriminator
/// is winning and does not learn this step; above it by more, it is losing and the generator's GAN term waits.
/// </summary>
public sealed class GanBalance
{
    const double Equilibrium = 0.68, Margin = 0.35;
    double _realLoss = Equilibrium, _fakeLoss = Equilibrium;

    /// <summary>Takes the discriminator's latest cross-entropies (scalars, nats per image) on real images and on prior samples.</summary>
    public void Observe(Tensor realLoss, Tensor fakeLoss) => (_realLoss, _fakeLoss) = (realLoss.item<float>(), fakeLoss.item<float>());

    /// <summary>Whether the discriminator descends its loss this step: not while it wins, unless the generator cannot fool it either.</summary>
    public bool DiscriminatorLearns => !(_realLoss < Equilibrium - Margin || _fakeLoss < Equilibrium - Margin) || !GeneratorFoolsIt;

    /// <summary>Whether the generator's GAN term joins its update this step: not while the discriminator is losing.</summary>
    public bool GeneratorFoolsIt => !(_realLoss > Equilibrium + Margin || _fakeLoss > Equilibrium + Margin);
}

/// <summary>What the GANs here share besides the balance rule: the discriminator's cross-entropy and networks kept out of autograd.</summary>
public static class Gan
{
    /// <summary>Dis_l's width for 28x28 images: <see cref="DiscriminatorFeatures"/>' output, [B, 64·7·7].</summary>
    public const int FeatureSize = 64 * 7 * 7;

    /// <summary>Dis_l's width for images of <paramref name="image"/>'s shape: 64·(H/4)·(W/4) (3,136 for 28x28, 4,096 for 32x32).</summary>
    public static int FeatureSizeOf(ImageShape image) => 64 * (image.Height / 4) * (image.Width / 4);

    /// <summary>
    /// The discriminator's trunk of the GANs here: two stride-2 4x4 convolutions (32 and 64 channels, LeakyReLU 0.2)
    /// and a flatten, [B, <paramref name="channels"/>, H, W] → Dis_l [B, 64·H/4·W/4] (28x28 by default: [B, 64·7·7]);
    /// with <paramref name="flatInput"/> it takes the images as rows [B, C·H·W] of <paramref name="image"/>'s shape.
    /// </summary>
    public static Sequential DiscriminatorFeatures(int channels = 1, bool flatInput = true, ImageShape? image = null)
    {
        image ??= ImageShape.Grey28;
        var layers = new List<nn.Module<Tensor, Tensor>>();
        if (flatInput) layers.Add(nn.Unflatten(1, [image.Channels, image.Height, image.Width]));
        layers.AddRange([
            nn.Conv2d(channels, 32, 4, stride: 2, padding: 1), nn.LeakyReLU(0.2),   // [B, 32, 14, 14] (32x32: 16x16)
            nn.Conv2d(32, 64, 4, stride: 2, padding: 1), nn.LeakyReLU(0.2),         // [B, 64, 7, 7] (8x8): Dis_l
            nn.Flatten()]);
        return nn.Sequential(layers);
    }

    /// <summary>Binary cross-entropy of logits [B] against "real" (1) or "fake" (0), a batch mean: −log D(x) or −log(1 − D(x)).</summary>
    public static Tensor Bce(Tensor logits, bool real) =>
        nn.functional.binary_cross_entropy_with_logits(logits, real ? ones_like(logits) : zeros_like(logits));

    /// <summary>
    /// Takes <paramref name="networks"/> out of autograd while a loss is built: its backward then flows through their
    /// layers to the network being updated but leaves no gradient in them (Larsen et al.'s Algorithm 1 updates each
    /// network by its own loss only; in particular L_llike never reaches the discriminator). Restored when disposed,
    /// after the forward: the graph already recorded that they needed none.
    /// </summary>
    public static IDisposable Frozen(params IEnumerable<Parameter>[] networks)
    {
        var frozen = networks.SelectMany(n => n).Where(p => p.requires_grad).ToList();
        foreach (var p in frozen) p.requires_grad = false;
        return new Restore(() => { foreach (var p in frozen) p.requires_grad = true; });
    }

    sealed class Restore(Action restore) : IDisposable
    {
        public void Dispose() => restore();
    }
}
