using VaeWeb.Engine.Native;
using static TorchSharp.torch;

namespace VaeWeb.Engine.Models;

/// <summary>How a decoder scores pixels: what p(x|z) is.</summary>
public enum PixelLikelihood
{
    /// <summary>One Bernoulli per pixel (binarized MNIST, or grey levels as soft targets): the decoder gives a logit per pixel, [B, D].</summary>
    Bernoulli,
    /// <summary>8-bit colour: one discretized logistic per sub-pixel (<see cref="DiscretizedLogistic"/>): a mean and a log-scale each, [B, 2D].</summary>
    DiscretizedLogistic,
}

/// <summary>
/// The discretized logistic likelihood of PixelCNN++ (Salimans, Karpathy, Chen &amp; Kingma 2017, Section 2.1; also
/// Kingma et al. 2016, IAF), one logistic per sub-pixel (no mixture, no channel coupling): a sub-pixel of value k/255
/// has probability σ((x + ½/255 − μ)/s) − σ((x − ½/255 − μ)/s), the bins at 0 and 255 taking the tails to −∞ and +∞.
/// </summary>
/// <remarks>
/// Chosen over a Gaussian with learned variance because it is a probability mass over the 256 values an 8-bit
/// sub-pixel can take: every −log p(x) is a number of nats of a discrete distribution, ≥ 0, so bits per dimension need no
/// correction and no dequantization noise; and a Gaussian's density is unbounded where the data are constant (the flat
/// backgrounds and saturated strokes of coloured MNIST, SVHN's clipped highlights), so its variance would collapse
/// there and the bound run off to +∞, whereas a bin's probability is at most 1. Data are intensities k/255 in [0, 1].
/// A decoder output is [B, 2D]: the D means μ (in intensity units, unconstrained) then the D log-scales log s.
/// </remarks>
public static class DiscretizedLogistic
{
    /// <summary>log s is kept ≥ −7 (as PixelCNN++): s ≈ 0.001, an eighth of a bin, already puts ≈ all mass in one bin.</summary>
    const double MinLogScale = -7;
    const double HalfBin = 0.5 / 255;

    /// <summary>
    /// Where a decoder's outputs of 0 (its state at initialization) put the logistic: μ = ½ + output, log s = −3 +
    /// output (s ≈ 0.05, about a dozen bins). From s = 1, the whole range, the likelihood is nearly flat in μ: the
    /// decoder learned a mean image and the encoder's KL went to 0 before the reconstruction could pull (posterior
    /// collapse, seen here on coloured MNIST); from s ≈ 0.05 the reconstruction term leads from the first steps.
    /// </summary>
    const double MeanOffset = 0.5, LogScaleOffset = -3;

    /// <summary>Means [B, D] and log-scales [B, D] of a decoder's output [B, 2D] (or [k, B, 2D]: the last dimension splits).</summary>
    public static (Tensor Mean, Tensor LogScale) Split(Tensor decoded)
    {
        var parts = decoded.chunk(2, -1);
        return (parts[0].add(Scalars.Of(MeanOffset)), parts[1].add(Scalars.Of(LogScaleOffset)).clamp_min_(Scalars.Of(MinLogScale)));
    }

    /// <summary>The distribution's mean as displayable intensities in [0, 1]: μ clamped, [B, D].</summary>
    public static Tensor Mean(Tensor decoded) => decoded.chunk(2, -1)[0].add(Scalars.Of(MeanOffset)).clamp_(Scalars.Of(0), Scalars.One);

    /// <summary>−log p(x) per sub-pixel, same shape as <paramref name="x"/> ([…, D], values k/255), in nats.</summary>
    public static Tensor NegativeLogLikelihoodPerDimension(Tensor decoded, Tensor x)
    {
        var (mean, logScale) = Split(decoded);
        var centered = x - mean;
        var inverseScale = logScale.neg().exp();
        var plusIn = inverseScale * centered.add(Scalars.Of(HalfBin));
        var minIn = inverseScale * centered.sub(Scalars.Of(HalfBin));
        var cdfDelta = plusIn.sigmoid() - minIn.sigmoid();
        var logCdfPlus = plusIn - Scalars.Softplus(plusIn);               // log σ(plusIn): the bin at 0 takes (−∞, ½/255]
        var logOneMinusCdfMin = Scalars.Softplus(minIn).neg();          // log(1 − σ(minIn)): the bin at 1 takes [1 − ½/255, ∞)
        // Far in a tail the difference of two sigmoids underflows: there the density at the bin's centre times its
        // width 1/255 (PixelCNN++'s fallback) is the probability to float precision.
        var midIn = inverseScale * centered;
        var logPdfMid = midIn - logScale - Scalars.Softplus(midIn).mul(Scalars.Of(2));
        var logMid = where(cdfDelta.gt(Scalars.Of(1e-5)), cdfDelta.clamp_min(Scalars.Of(1e-12)).log(), logPdfMid.sub(Scalars.Of(Math.Log(255))));
        var logP = where(x.lt(Scalars.Of(HalfBin)), logCdfPlus, where(x.gt(Scalars.Of(1 - HalfBin)), logOneMinusCdfMin, logMid));
        return logP.neg();
    }

    /// <summary>−log p(x) per image: x [B, D] and the decoder's output [B, 2D] → [B] nats (sums over the last dimension).</summary>
    public static Tensor NegativeLogLikelihood(Tensor decoded, Tensor x) => NegativeLogLikelihoodPerDimension(decoded, x).sum(-1);

    /// <summary>Bits per dimension of a bound of <paramref name="natsPerImage"/> on −log p(x) over <paramref name="dimensions"/> sub-pixels: nats / (D·ln 2).</summary>
    public static double BitsPerDimension(double natsPerImage, long dimensions) => natsPerImage / (dimensions * Math.Log(2));
}
