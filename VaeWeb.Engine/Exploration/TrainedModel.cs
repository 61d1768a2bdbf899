using VaeWeb.Engine.Data;
using VaeWeb.Engine.Models;
using VaeWeb.Engine.Native;
using static VaeWeb.Engine.Native.Scalars;
using VaeWeb.Engine.Training;
using static TorchSharp.torch;

namespace VaeWeb.Engine.Exploration;

/// <summary>
/// A trained model loaded from a checkpoint, and what a person can do with it: sample, restyle, complete, classify a
/// drawing, interpolate, map the latent space. Every operation takes its inputs as plain numbers (intensities of the
/// model's <see cref="Image"/> shape: 28x28 grey, or 32x32x3 channel-planar colour) and returns images as
/// <see cref="ImageGrid"/>s, so callers need no TorchSharp. Deterministic given its seed.
/// Not thread-safe: callers serialize access.
/// </summary>
public sealed class TrainedModel : IDisposable
{
    /// <summary>The largest k × test images one estimate may cost (a million decoder passes per label: seconds to minutes here).</summary>
    public const long MaxLikelihoodSamples = 1_000_000;

    /// <summary>Pixels of a drawing: MNIST's 28x28. Drawing and classifying a digit is for grey MNIST-like models only.</summary>
    public const int Classes = 10, Pixels = 784;
    readonly GenerativeModel _model;

    /// <summary>The shape of the images it takes and makes (its dataset's).</summary>
    public ImageShape Image => _model.Image;
    /// <summary>Whether a drawing can be classified: a classifier on 28x28 grey images (a colour model's classifier sees 32x32x3 photos, not drawings).</summary>
    public bool CanClassifyDrawings => CanClassify && Image == ImageShape.Grey28;

    public RunConfig Config { get; }
    public ModelInfo Info { get; }
    public int Epoch { get; }
    public bool IsConditional => Info.Has(Capability.Conditional);
    /// <summary>Models with a classifier q(y|x) label digits themselves.</summary>
    public bool CanClassify => Info.Has(Capability.Classifier);
    /// <summary>A conditional model without a classifier: restyling and completing need the digit's label from the person.</summary>
    public bool NeedsLabel => IsConditional && !CanClassify;
    public int Latent => _model.Latent;

    TrainedModel(GenerativeModel model, RunConfig config, int epoch)
    {
        _model = model;
        _model.eval();
        Config = config;
        Info = ModelRegistry.Get(config.Model);
        Epoch = epoch;
    }

    /// <summary>The model saved by <see cref="RunFolder.SaveCheckpoint"/> (model.pt bytes) for its config.</summary>
    public static TrainedModel Load(byte[] checkpoint, RunConfig config, int epoch)
    {
        var model = ModelRegistry.Create(config);
        try
        {
            using var reader = new BinaryReader(new MemoryStream(checkpoint));
            model.load(reader);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            model.Dispose();
            throw new InvalidDataException($"The checkpoint does not fit a {config.Model} ({config.Arch}) model with this config: {e.Message}", e);
        }
        return new TrainedModel(model, config, epoch);
    }

    /// <summary>
    /// The test bound the run reports per epoch (when the model has one) beside the importance-weighted estimate with
    /// <paramref name="k"/> samples (Burda et al. 2015) on the first <paramref name="images"/> test images: the numbers
    /// `evaluate` prints, on the same fixed binarization.
    /// </summary>
    public LikelihoodEstimate EstimateLikelihood(ImageSet test, int k, int images, Action<double>? progress = null, CancellationToken cancellationToken = default)
    {
        if (!Info.Has(Capability.Likelihood)) throw new InvalidOperationException($"The {Info.Title} has no likelihood estimate.");
        if (k is < 1 or > 1000) throw new ArgumentException($"k must be between 1 and 1,000 importance samples (got {k}).");
        if (images < 1 || images > test.Count) throw new ArgumentException($"Choose between 1 and {test.Count:N0} test images (got {images}).");
        if ((long)k * images > MaxLikelihoodSamples)
            throw new ArgumentException($"k × test images is at most {MaxLikelihoodSamples:N0} (got {(long)k * images:N0}): fewer samples or fewer images.");
        using var running = NativeWork.Begin(cancellationToken);          // minutes of libtorch: a process exit stops it first
        using var subset = test.Take(images);
        double? bound = _model.Evaluate(subset, Config.Binarize).TryGetValue(Metrics.Elbo, out var elbo) ? elbo : null;
        var estimate = Evaluation.ImportanceWeightedLogLikelihood(_model, subset, Config.Binarize, k, progress, running.Token);
        return new LikelihoodEstimate(Evaluation.LikelihoodOf(Info), k, images, estimate, bound, Epoch);
    }

    /// <summary>
    /// 10x10 samples at <paramref name="temperature"/> (the prior's standard deviation is scaled by it). Conditional
    /// models: row y is class y and each column keeps one z.
    /// </summary>
    public ImageGrid Sample(double temperature, long seed)
    {
        return Trainer.Samples(_model, Info, temperature, seed);
    }

    /// <summary>The grid of <see cref="Sample"/> drawn step by step, where each step wrote; its last frame is that grid.</summary>
    public Animation SampleSteps(double temperature, long seed)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var (z, labels) = Trainer.SampleLatents(_model, Info, temperature, seed);
        return Animation.Of(_model.Frames(z, labels), Trainer.GridSide, Trainer.GridSide);
    }

    /// <summary>
    /// The reconstructions of images [n, 784] (a conditional model takes their labels [n], or its classifier's) step by
    /// step, with where each step read the image and wrote: one row of n.
    /// </summary>
    public Animation ReconstructionSteps(Tensor images, Tensor labels)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var y = !IsConditional ? null : CanClassify ? ClassifyLogits(images).argmax(1) : labels;
        return Animation.Of(_model.ReconstructionFrames(images, y), 1, (int)images.shape[0], images);
    }

    /// <summary>
    /// Keeps the style z of <paramref name="pixels"/> (posterior mean, with its label: given, or the classifier's) and
    /// decodes it with all ten labels. Returns a 1x11 grid, the digit then classes 0–9, and the label used.
    /// </summary>
    public (ImageGrid Grid, int Label, bool Predicted) Restyle(float[] pixels, int? label)
    {
        RequireConditional("Restyling");
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var x = Input(pixels);
        var (y, predicted) = LabelFor(x, label);
        var z = Encode(x, tensor(new long[] { y }));                         // [1, Latent]
        var all = Range(Classes);
        var images = Decode(z.repeat(Classes, 1), all);
        return (Trainer.ToGrid(cat([x, images], 0), 1, Classes + 1, Image), y, predicted);
    }

    /// <summary>
    /// Fills the pixels where <paramref name="erased"/> is true, keeping the rest: iterative conditional sampling
    /// (Rezende et al. 2014, Section 5.2) with z ~ q(z|x, y) and x_missing ← mean of p(x|y, z), from a neutral grey.
    /// Conditional models use the given label, or the classifier's guess on the current image at each step.
    /// Returns a 1x(2+count) grid: the original, the masked input (erased shown black), then the completions.
    /// </summary>
    /// <remarks>
    /// Approximate: a pseudo-Gibbs chain (Rezende, Mohamed &amp; Wierstra 2014, Section 5.2) that alternates
    /// z ~ q(z|x) and the missing pixels from p(x|z), the visible ones clamped. <paramref name="sampleMissing"/> draws the
    /// missing pixels as Bernoulli samples (the chain of the paper); otherwise they are set to the Bernoulli means,
    /// which gives smoother completions but is not a sampler of p(x_missing | x_visible).
    /// </remarks>
    public ImageGrid Complete(float[] pixels, bool[] erased, int? label, int count, long seed, int iterations = 30, bool sampleMissing = false)
    {
        int locations = Image.Height * Image.Width;
        if (erased.Length != locations) throw new ArgumentException($"The erased mask must have {locations} values, one per {Image.Height}x{Image.Width} pixel (got {erased.Length}).");
        if (count is < 1 or > 16) throw new ArgumentException($"Ask for 1 to 16 completions (got {count}).");
        if (NeedsLabel && label is null) throw new ArgumentException($"The {Info.Title} completes a digit of a given class: choose the label.");
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        using var generator = new Generator((ulong)seed);
        var original = Input(pixels);
        // One flag per pixel location, the same for each of its channels: [1, C·H·W].
        var missing = tensor(erased).view(1, 1, locations).expand(1, Image.Channels, locations).reshape(1, Image.Pixels).to(ScalarType.Float32);
        var visible = ones_like(missing) - missing;
        var masked = original * visible;
        var x = masked.Plus(missing.mul(Of(0.5))).repeat(count, 1);                  // [count, 784]
        for (int i = 0; i < iterations; i++)
        {
            var labels = label is { } l ? full(count, Of(l), dtype: ScalarType.Int64) : CanClassify ? ClassifyLogits(x).argmax(1) : null;
            var (mu, logVar) = _model.Encode(x, labels);
            var z = GenerativeModel.Reparameterize(mu, logVar, generator);
            var means = Decode(z, labels);
            // Bernoulli draws only make sense for grey pixels; colour chains take the means.
            var filled = sampleMissing && !Image.IsColour ? rand(means.shape, generator: generator).lt_(means) : means;
            x = (original * visible).Plus(filled * missing);
        }
        return Trainer.ToGrid(cat([original, masked, x], 0), 1, count + 2, Image);
    }

    /// <summary>Class probabilities of a 28x28 image, and its reconstruction through the most probable class.</summary>
    public (float[] Probabilities, float[] Reconstruction) Classify(float[] pixels)
    {
        if (!CanClassify) throw new InvalidOperationException($"A {Info.Title} has no classifier; train a model with one, such as M2, to classify drawings.");
        if (!CanClassifyDrawings) throw new InvalidOperationException($"Drawing and classifying a digit is for MNIST-like 28x28 grey models; this model takes {Image} colour images.");
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var x = Input(pixels);
        var probabilities = nn.functional.softmax(ClassifyLogits(x), 1);
        var y = probabilities.argmax(1);
        var reconstruction = _model.Reconstruct(x, IsConditional ? y : null);   // through the posterior mean; a GAN's is the input
        return (probabilities.data<float>().ToArray(), reconstruction.contiguous().data<float>().ToArray());
    }

    /// <summary>
    /// Decodes <paramref name="steps"/> points between the posterior means of two digits: linear, or spherical
    /// (slerp, which keeps interpolants at the norm typical of Gaussian samples; White 2016). Conditional models keep
    /// each digit's label for the first and second half. Returns 1x(steps) grid.
    /// </summary>
    public ImageGrid Interpolate(float[] from, float[] to, int? fromLabel, int? toLabel, int steps, bool spherical)
    {
        if (steps is < 2 or > 20) throw new ArgumentException($"Interpolate with 2 to 20 steps (got {steps}).");
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var a = Input(from);
        var b = Input(to);
        var (ya, _) = IsConditional ? LabelFor(a, fromLabel) : (0, false);
        var (yb, _) = IsConditional ? LabelFor(b, toLabel) : (0, false);
        var za = Encode(a, IsConditional ? tensor(new long[] { ya }) : null);
        var zb = Encode(b, IsConditional ? tensor(new long[] { yb }) : null);
        var t = linspace(0, 1, steps).view(-1, 1);                           // [steps, 1]
        Tensor z;
        if (spherical)
        {
            var omega = (nn.functional.normalize(za, dim: 1) * nn.functional.normalize(zb, dim: 1)).sum().clamp(Of(-1 + 1e-6), Of(1 - 1e-6)).acos();
            var sin = omega.sin();
            z = ((ones_like(t) - t) * omega).sin().div(sin).mul(za).Plus((t * omega).sin().div(sin).mul(zb));
        }
        else z = ((ones_like(t) - t) * za).Plus(t * zb);
        var labels = IsConditional ? where(t.view(-1).lt(Of(0.5)), Of(ya), Of(yb)).to(ScalarType.Int64) : null;
        return Trainer.ToGrid(Decode(z, labels), 1, steps, Image);
    }

    /// <summary>
    /// For 2-D latents: the learned manifold, decoded on a side x side grid of z at evenly spaced quantiles of the
    /// N(0, I) prior (Kingma &amp; Welling 2013, Figure 4). Conditional models draw it for one label.
    /// </summary>
    public ImageGrid Manifold(int side, int? label)
    {
        if (Latent != 2) throw new InvalidOperationException($"The manifold grid is for 2-D latents; this model has {Latent}. Use the latent map instead.");
        if (side is < 2 or > 30) throw new ArgumentException($"Give a grid side from 2 to 30 (got {side}).");
        if (IsConditional && label is null) throw new ArgumentException("Choose the label whose manifold to draw.");
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        // Quantiles (i + 0.5)/side of N(0, 1) through the inverse error function: Φ⁻¹(p) = √2·erfinv(2p − 1).
        var p = arange(Of(0), Of(side), One, ScalarType.Float32).add_(Of(0.5), One).div_(Of(side));
        var q = special.erfinv(p.mul(Of(2)).sub_(One)).mul_(Of(Math.Sqrt(2)));
        var z = stack([q.flip(0).repeat_interleave(side), q.repeat(side)], 1);  // row-major, z₂ decreasing down the rows
        var labels = IsConditional ? full(side * side, Of(label!.Value), dtype: ScalarType.Int64) : null;
        return Trainer.ToGrid(Decode(z, labels), side, side, Image);
    }

    /// <summary>
    /// Two coordinates per image of its posterior mean: the latent itself when it is 2-D, else its projection on the
    /// two principal components of these means. images: [N, 784].
    /// </summary>
    public (float[] X, float[] Y, string Axes) LatentMap(Tensor images, Tensor labels)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var z = Encode(images, IsConditional ? (CanClassify ? ClassifyLogits(images).argmax(1) : labels) : null);
        Tensor xy;
        string axes;
        if (z.shape[1] == 2) { xy = z; axes = "z₁, z₂"; }
        else
        {
            var centered = z - z.mean([0], keepdim: true);
            var (_, _, v) = linalg.svd(centered, fullMatrices: false);       // rows of v: principal directions
            xy = centered.matmul(v.narrow(0, 0, 2).t());
            axes = "principal components 1 and 2 of the posterior means";
        }
        xy = xy.contiguous();
        return (xy[.., 0].contiguous().data<float>().ToArray(), xy[.., 1].contiguous().data<float>().ToArray(), axes);
    }

    /// <summary>The reconstruction of one image through its posterior mean (label: given, or the classifier's).</summary>
    public float[] Reconstruct(float[] pixels, int? label)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var x = Input(pixels);
        Tensor? y = IsConditional ? tensor(new long[] { LabelFor(x, label).Label }) : null;
        return Decode(Encode(x, y), y).contiguous().data<float>().ToArray();
    }

    Tensor Input(float[] pixels)
    {
        if (pixels.Length != Image.Pixels) throw new ArgumentException($"An image must have {Image.Pixels} values ({Image}), got {pixels.Length}.");
        return tensor(pixels).view(1, Image.Pixels).clamp(Of(0), One);
    }

    void RequireConditional(string what)
    {
        if (!IsConditional) throw new InvalidOperationException($"{what} needs a label-conditional model (CVAE, CVAE-GAN, M2 or M1+M2); this run is a {Info.Title}.");
    }

    (int Label, bool Predicted) LabelFor(Tensor x, int? label)
    {
        if (label is { } l)
        {
            if (l is < 0 or >= Classes) throw new ArgumentException($"A label is a digit class from 0 to 9 (got {l}).");
            return (l, false);
        }
        if (!CanClassify) throw new ArgumentException($"The {Info.Title} has no classifier: give the digit's label.");
        return ((int)ClassifyLogits(x).argmax(1).item<long>(), true);
    }

    Tensor ClassifyLogits(Tensor x) => _model.Classify(x);

    Tensor Encode(Tensor x, Tensor? labels) => _model.Encode(x, labels).Mu;

    /// <summary>Pixel intensities [B, 784] of z [B, Latent] (with labels [B] for conditional models).</summary>
    Tensor Decode(Tensor z, Tensor? labels) => _model.Decode(z, labels);

    public void Dispose() => _model.Dispose();
}

/// <summary>An importance-weighted estimate of <paramref name="Of"/> (nats per image) and the model's test bound, when it has one.</summary>
public sealed record LikelihoodEstimate(string Of, int K, int Images, double Estimate, double? Bound, int Epoch);
