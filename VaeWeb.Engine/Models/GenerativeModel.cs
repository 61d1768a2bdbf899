using TorchSharp;
using TorchSharp.Modules;
using VaeWeb.Engine.Data;
using VaeWeb.Engine.Native;
using VaeWeb.Engine.Training;
using static TorchSharp.torch;

namespace VaeWeb.Engine.Models;

/// <summary>What a model can do. The server, the explore page and the CLI read these; they never test a model's type.</summary>
[Flags]
public enum Capability
{
    None = 0,
    /// <summary>Generates and encodes given a class label y: samples one row per class, restyles.</summary>
    Conditional = 1,
    /// <summary>Has a classifier q(y|x): <see cref="GenerativeModel.Classify"/>.</summary>
    Classifier = 2,
    /// <summary>Learns from a few labels and many unlabeled images; a validation set picks the checkpoint kept.</summary>
    SemiSupervised = 4,
    /// <summary>Has an importance-weighted estimate of log p(x): <see cref="GenerativeModel.ImportanceWeightedLogLikelihood"/>.</summary>
    Likelihood = 8,
    /// <summary>Draws in steps (DRAW): <see cref="GenerativeModel.Frames"/> gives more than the final canvas.</summary>
    Frames = 16,
    /// <summary>Several networks with their own optimizers, updated in turn within one step (the GAN family).</summary>
    SeveralOptimizers = 32,
    /// <summary>Has an inference network q(z|x[,y]) and a decoder over a latent z: <see cref="GenerativeModel.Encode"/>.</summary>
    Encoder = 64,
}

/// <summary>
/// What one step learns from, each [B, D] inputs (binarized if the stage asks) or [B] labels: <paramref name="X"/> a
/// shuffled batch (null when a semi-supervised run has every label), <paramref name="Labels"/> its labels for fully
/// labeled conditional models, and for semi-supervised ones a labeled batch <paramref name="LabeledX"/>,
/// <paramref name="LabeledY"/> cycled through the few labeled images.
/// </summary>
public sealed record Batch(Tensor? X, Tensor? Labels = null, Tensor? LabeledX = null, Tensor? LabeledY = null);

/// <summary>
/// How images were drawn in steps: the canvas after each step [T, n, 784] in [0, 1], and where each step wrote and
/// read as boxes [T, n, 4] (<see cref="AttentionWindow.Box"/>), null for a model that does not attend or does not read.
/// </summary>
public sealed record DrawingSteps(Tensor Canvases, Tensor? Writes = null, Tensor? Reads = null);

/// <summary>The objective of one update (minimized) and the named terms the charts show, each a batch mean in nats per image.</summary>
public sealed record Loss(Tensor Objective, IReadOnlyDictionary<string, Tensor> Terms);

/// <summary>
/// One network's update within a step: its parameters, Adam's learning rate and β1 (GANs use 0.5), and the loss it
/// descends. A step runs its stage's updates in order, each a forward, backward and Adam step of its own.
/// </summary>
public sealed record Update(string Group, IEnumerable<Parameter> Parameters, double LearningRate, Func<Batch, Loss> Loss)
{
    public double Beta1 { get; init; } = 0.9;
    /// <summary>
    /// Adam's ε, added to √v̂. The SSL-GAN's released code adds 1e-8 under the root, which is about ε = 1e-4 outside
    /// it: parameters whose gradients are tiny take damped steps instead of full ones.
    /// </summary>
    public double Epsilon { get; init; } = 1e-8;
    /// <summary>Whether this step descends the loss (its terms are reported either way); null: always. A GAN's balance rule.</summary>
    public Func<bool>? Active { get; init; }
}

/// <summary>
/// A phase of training (M1 pre-training, then M2). Every stage but the last reports steps only, as epoch 0 with
/// negative steps and its name before each metric; the last is evaluated, drawn and checkpointed every epoch.
/// </summary>
public sealed record Stage(string Name, int Epochs, IReadOnlyList<Update> Updates)
{
    /// <summary>Whether the inputs are pixel intensities to binarize with the run's <see cref="Binarization"/>.</summary>
    public bool Binarize { get; init; } = true;
    /// <summary>False for a stage that learns without labels even when the run has some (M1 pre-training).</summary>
    public bool UsesLabels { get; init; } = true;
    /// <summary>What the stage learns from, computed once when it starts (M1+M2: freezes M1 and measures its units); the loop disposes it after unless it is the run's own data.</summary>
    public Func<TrainingData, TrainingData>? Inputs { get; init; }
    /// <summary>Per-epoch metrics of a set of the stage's inputs (test and validation); required for the last stage.</summary>
    public Func<ImageSet, Dictionary<string, double>>? Evaluate { get; init; }
}

/// <summary>
/// The data of a run: a training pool, for semi-supervised runs a validation set and the indices of the pool images
/// whose labels may be seen (null: none, or every image for conditional models), and the test set.
/// </summary>
public sealed record TrainingData(ImageSet Pool, ImageSet? Validation, ImageSet Test, Tensor? LabeledIndices)
{
    public long LabeledCount => LabeledIndices?.shape[0] ?? 0;
}

/// <summary>
/// The contract of every model: named loss terms per step, sampling, encode/decode and a classifier where it has
/// them, and its stages and optimizers. Adding a model is one file deriving from this plus one
/// <see cref="ModelRegistry.Register"/>. Images go in and out as [B, D] pixel intensities, D = <see cref="Image"/>.Pixels (784 for MNIST).
/// </summary>
public abstract class GenerativeModel(string name) : nn.Module(name)
{
    /// <summary>Number of latent units of z (of z2 for M1+M2).</summary>
    public abstract int Latent { get; }

    /// <summary>
    /// The shape of the images it takes and makes, rows [B, <see cref="ImageShape.Pixels"/>]: 28×28 grey unless the model
    /// was built for a colour dataset (32×32×3, channel-planar).
    /// </summary>
    public virtual ImageShape Image => ImageShape.Grey28;

    /// <summary>
    /// Where every random draw of training comes from (reparameterization, dropout); null: torch's global generator.
    /// The trainer gives each run its own, so concurrent runs stay reproducible.
    /// </summary>
    public virtual Generator? Noise { get; set; }

    /// <summary>
    /// FLOPs of one training step per image (forward + backward of every matrix product; elementwise work not counted),
    /// for the benchmark's share of the machine's peak; 0 where a model does not count them.
    /// </summary>
    public virtual long TrainingFlopsPerImage => 0;

    /// <summary>The objective and named terms of one step on <paramref name="batch"/> (the last stage's single update).</summary>
    public abstract Loss Loss(Batch batch);

    /// <summary>Test metrics of an epoch (e.g. ELBO, or classification error); fixed evaluation noise.</summary>
    public abstract Dictionary<string, double> Evaluate(ImageSet set, Binarization binarize);

    /// <summary>The stages of a run on <paramref name="data"/>; by default one stage of one Adam update on <see cref="Loss"/>.</summary>
    public virtual IReadOnlyList<Stage> Stages(RunConfig config, TrainingData data) =>
        [new Stage("", config.Epochs, [new Update("model", parameters(), config.LearningRate, Loss)]) { Evaluate = set => Evaluate(set, config.Binarize) }];

    /// <summary>z ~ p(z|y) from standard normal <paramref name="eps"/> [n, Latent]; labels [n] for conditional models.</summary>
    public virtual Tensor Prior(Tensor eps, Tensor? labels) => eps;

    /// <summary>The mean of p(x|z[,y]) as pixel intensities, [n, 784].</summary>
    public abstract Tensor Decode(Tensor z, Tensor? labels);

    /// <summary>Mean and log-variance of q(z|x[,y]), each [B, Latent].</summary>
    public virtual (Tensor Mu, Tensor LogVar) Encode(Tensor x, Tensor? labels) =>
        throw new InvalidOperationException($"{GetName()} has no encoder.");

    /// <summary>x [B, 784] → its reconstruction [B, 784]: by default the decoder's mean at the posterior mean.</summary>
    public virtual Tensor Reconstruct(Tensor x, Tensor? labels) => Decode(Encode(x, labels).Mu, labels);

    /// <summary>Logits of q(y|x), [B, 10], for models with <see cref="Capability.Classifier"/>.</summary>
    public virtual Tensor Classify(Tensor x) => throw new InvalidOperationException($"{GetName()} has no classifier.");

    /// <summary>
    /// log p(x) estimated with k importance samples (Burda et al. 2015), [B] nats, for <see cref="Capability.Likelihood"/>.
    /// A conditional model without a classifier (the CVAE) estimates log p(x|y) for the <paramref name="labels"/> [B].
    /// </summary>
    public virtual Tensor ImportanceWeightedLogLikelihood(Tensor x, int k, Generator? generator = null, Tensor? labels = null) =>
        throw new InvalidOperationException($"{GetName()} has no likelihood estimate.");

    /// <summary>log N(z; μ, diag(exp(logVar))) summed over the last dimension; the arguments broadcast.</summary>
    public static Tensor LogNormal(Tensor z, Tensor mu, Tensor logVar)
    {
        const double halfLog2Pi = 0.91893853320467274;
        return (z - mu).Square().div(logVar.exp()).Plus(logVar).mul_(Scalars.Of(-0.5)).sub_(Scalars.Of(halfLog2Pi)).sum(-1);
    }

    /// <summary>n images from the prior at a temperature (the prior's standard deviation scaled by it): [n, 784].</summary>
    public Tensor Sample(int n, Generator generator, double temperature = 1.0, Tensor? labels = null)
    {
        using var t = temperature.ToScalar();                                // disposed after use, not finalized mid-call (see Scalars)
        return Decode(Prior(randn(new long[] { n, Latent }, generator: generator).mul_(t), labels), labels);
    }

    /// <summary>The steps a sample of z [n, Latent] is drawn in: one frame, the image itself, unless <see cref="Capability.Frames"/>.</summary>
    public virtual DrawingSteps Frames(Tensor z, Tensor? labels) => new(Decode(z, labels).unsqueeze(0));

    /// <summary>The steps of the reconstruction of x [n, 784], with where each step read x: one frame unless <see cref="Capability.Frames"/>.</summary>
    public virtual DrawingSteps ReconstructionFrames(Tensor x, Tensor? labels) => new(Reconstruct(x, labels).unsqueeze(0));

    /// <summary>The poster's hidden non-linearity; TorchSharp's nn.Softplus would make two short-lived Scalars per call (see <see cref="Scalars"/>).</summary>
    protected static nn.Module<Tensor, Tensor> Softplus() => new SoftplusLayer();

    /// <summary>z = μ + σ·ε with ε ~ N(0, I): the reparameterization trick (Kingma &amp; Welling 2013, Section 2.4).</summary>
    public static Tensor Reparameterize(Tensor mu, Tensor logVar, Generator? generator = null)
    {
        var std = logVar.mul(Scalars.Of(0.5)).exp_();
        var eps = generator is null ? randn_like(std) : randn(std.shape, generator: generator);
        return eps.mul_(std).Plus_(mu);
    }
}

/// <summary>
/// Dropout (Srivastava et al. 2014) drawing its masks from the model's own generator: TorchSharp's Dropout draws from
/// torch's global one, which concurrent runs share, so a run would not be reproducible.
/// </summary>
public sealed class RunDropout(double p, Func<Generator?> generator) : nn.Module<Tensor, Tensor>(nameof(RunDropout))
{
    // alias, not x: Sequential disposes each layer's input once the next layer has run.
    public override Tensor forward(Tensor x) =>
        !training || p == 0 ? x.alias() : x * rand(x.shape, generator: generator()).ge_(Scalars.Of(p)).div_(Scalars.Of(1 - p));
}
