using TorchSharp;
using TorchSharp.Modules;
using VaeWeb.Engine.Data;
using VaeWeb.Engine.Native;
using VaeWeb.Engine.Training;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VaeWeb.Engine.Models;

/// <summary>
/// The semi-supervised generative model M2 of Kingma, Mohamed, Rezende &amp; Welling (2014): p(y) p(z) p(x|y,z) with
/// inference networks q(y|x) (the classifier) and q(z|x,y). Its generative half is a <see cref="Cvae"/> with a
/// standard normal prior. Labeled images score −L(x,y); unlabeled ones sum over all labels,
/// Σ_y q(y|x)(−L(x,y)) + H(q(y|x)) (Section 3.1.2, equations 6–9).
/// </summary>
/// <remarks>
/// The fully connected M2 is the poster's 784-500-500-z. The convolutional one gives q(y|x) a small convnet, the part
/// whose inductive bias decides the error; q(z|x,y) and p(x|y,z) stay fully connected, because the unlabeled bound
/// runs them ten times per image and that is where the step's time goes.
/// </remarks>
public sealed class M2 : GenerativeModel
{
    public const int Classes = Cvae.Classes;
    readonly Module<Tensor, Tensor> classifier;
    readonly Cvae generative;

    public override int Latent => generative.Latent;
    public override ImageShape Image => generative.Image;
    public Cvae Generative => generative;

    public override Generator? Noise
    {
        get => base.Noise;
        set { base.Noise = value; generative.Noise = value; }
    }

    /// <summary>
    /// Weight α of −log q(y|x) per labeled image. Equation 9's α = 0.1·N multiplies the mean over the labeled images:
    /// per labeled image that is 0.1·N/N_labeled, which <see cref="Stages"/> sets from the data unless the config gives α.
    /// </summary>
    public double Alpha { get; set; } = 1;

    /// <summary>
    /// Weights of the labeled and unlabeled batch means in a step's objective: 1 and 1 with labels oversampled;
    /// N_labeled/N and N_unlabeled/N under equation 9's balance (the equation divided by N, estimated per minibatch).
    /// </summary>
    public (double Labeled, double Unlabeled) Weights { get; set; } = (1, 1);

    /// <param name="inputs">784 for MNIST pixels; M1's latent size for M1+M2.</param>
    /// <param name="convolutional">A convnet q(y|x) on 28x28 images instead of the MLP.</param>
    /// <param name="gaussian">Gaussian p(x|y,z) for real-valued inputs (M1+M2) instead of Bernoulli pixels.</param>
    /// <param name="image">A dataset's image shape (then <paramref name="inputs"/> is its pixels): colour images get the
    /// discretized logistic p(x|y,z) over their 3072 sub-pixels and, when convolutional, a classifier on 3 planes.</param>
    public M2(int inputs = 784, int latent = 50, int[]? hidden = null, bool convolutional = false, bool gaussian = false, ImageShape? image = null) : base(nameof(M2))
    {
        hidden ??= [500, 500];
        var shape = image ?? ImageShape.Grey(inputs);
        classifier = convolutional ? ConvClassifier(() => Noise, shape) : FcClassifier(shape.Pixels, hidden);
        generative = new Cvae(shape.Pixels, latent, hidden, gaussian: gaussian, image: image);
        RegisterComponents();
    }

    static Sequential FcClassifier(int inputs, int[] hidden)
    {
        var layers = new List<Module<Tensor, Tensor>>();
        int width = inputs;
        foreach (var h in hidden) { layers.Add(Linear(width, h)); layers.Add(Softplus()); width = h; }
        layers.Add(Linear(width, Classes));
        return Sequential(layers);
    }

    /// <summary>
    /// [B, C·H·W] → [B, 10]: two 3x3 conv + max-pool stages (28→14→7 for MNIST, 32→16→8 for 32×32×3 colour), then 256
    /// hidden units.
    /// </summary>
    static Sequential ConvClassifier(Func<Generator?> noise, ImageShape image)
    {
        if (image.Height % 4 != 0 || image.Width % 4 != 0) throw new ArgumentException($"The conv classifier takes images with sides divisible by 4 (got {image}).");
        long f = image.Height / 4 * (image.Width / 4);
        return Sequential(
            Unflatten(1, [image.Channels, image.Height, image.Width]),
            Conv2d(image.Channels, 32, 3, padding: 1), ReLU(), MaxPool2d(2),   // [B, 32, H/2, W/2]
            Conv2d(32, 64, 3, padding: 1), ReLU(), MaxPool2d(2),               // [B, 64, H/4, W/4]
            Flatten(), new RunDropout(0.5, noise), Linear(64 * f, 256), ReLU(), new RunDropout(0.5, noise), Linear(256, Classes));
    }

    /// <summary>Logits of q(y|x), [B, 10].</summary>
    public override Tensor Classify(Tensor x) => classifier.forward(x);

    /// <summary>q(z|x,y) of the generative half.</summary>
    public override (Tensor Mu, Tensor LogVar) Encode(Tensor x, Tensor? labels) => generative.Encode(x, labels);

    /// <summary>The mean of p(x|y,z), z ~ N(0, I) being M2's prior p(z).</summary>
    public override Tensor Decode(Tensor z, Tensor? labels) => generative.Decode(z, labels);

    /// <summary>
    /// L(x, y) = −E_q(z|x,y)[log p(x|y,z) + log p(y) + log p(z) − log q(z|x,y)] per image, [B], one z sample.
    /// <paramref name="noise"/>: [B, Latent] standard normal, to fix the sample.
    /// </summary>
    public Tensor NegativeLabeledBound(Tensor x, Tensor labels, Tensor? noise = null, (Tensor Mu, Tensor LogVar)? encoded = null)
    {
        var (reconstruction, kl) = generative.Terms(x, labels, noise, encoded);
        return reconstruction.Plus(kl).add_(Scalars.Of(Math.Log(Classes)), Scalars.One);   // −log p(y) with the uniform prior
    }

    /// <summary>
    /// U(x) = Σ_y q(y|x) L(x, y) − H(q(y|x)) per image, [B]: every label in one batched pass of 10·B rows, not a loop.
    /// <paramref name="noise"/>: [10B, Latent], row y·B + i for image i with label y.
    /// </summary>
    public Tensor NegativeUnlabeledBound(Tensor x, Tensor? noise = null)
    {
        long b = x.shape[0];
        var logProbabilities = functional.log_softmax(Classify(x), 1);       // [B, 10]
        var probabilities = logProbabilities.exp();
        // Row y·B + i pairs image i with label y.
        var xs = x.repeat(Classes, 1);                                       // [10B, D]
        var ys = Scalars.Range(Classes).repeat_interleave(b);                // [10B]
        var bound = NegativeLabeledBound(xs, ys, noise, generative.EncodeEveryLabel(x)).view(Classes, b).t(); // [B, 10]
        var entropy = -(probabilities * logProbabilities).sum(1);
        return (probabilities * bound).sum(1) - entropy;
    }

    /// <summary>
    /// The objective J^α of equation 9 for one step, per image: <see cref="Weights"/>.Labeled × (labeled bound plus α times
    /// the classification loss) on the labeled batch, plus <see cref="Weights"/>.Unlabeled × the unlabeled bound on the
    /// unlabeled batch. Returns the total and its parts (batch means, unweighted).
    /// </summary>
    public (Tensor Loss, Tensor Labeled, Tensor Unlabeled, Tensor Classification) Loss(Tensor xLabeled, Tensor labels, Tensor xUnlabeled, double alpha)
    {
        var labeled = NegativeLabeledBound(xLabeled, labels).mean();
        var unlabeled = NegativeUnlabeledBound(xUnlabeled).mean();
        var classification = functional.cross_entropy(Classify(xLabeled), labels);
        var total = labeled.Plus(classification.mul(Scalars.Of(alpha))).mul(Scalars.Of(Weights.Labeled)).Plus(unlabeled.mul(Scalars.Of(Weights.Unlabeled)));
        return (total, labeled, unlabeled, classification);
    }

    /// <summary>
    /// J^α for one step: the unlabeled batch batch.X and the labeled batch (batch.LabeledX, batch.LabeledY). With every
    /// label given (batch.X null) there is no unlabeled term, only the labeled bound and α·(−log q(y|x)).
    /// </summary>
    public override Loss Loss(Batch batch)
    {
        if (batch.X is null)
        {
            var labeled = NegativeLabeledBound(batch.LabeledX!, batch.LabeledY!).mean();
            var classification = functional.cross_entropy(Classify(batch.LabeledX!), batch.LabeledY!);
            return new(labeled.Plus(classification.mul(Scalars.Of(Alpha))), new Dictionary<string, Tensor>
            {
                [Metrics.Labeled] = labeled, [Metrics.Classification] = classification,
            });
        }
        var (total, l, u, c) = Loss(batch.LabeledX!, batch.LabeledY!, batch.X, Alpha);
        return new(total, new Dictionary<string, Tensor> { [Metrics.Labeled] = l, [Metrics.Unlabeled] = u, [Metrics.Classification] = c });
    }

    /// <summary>
    /// log p(x) = log Σ_y p(y) p(x|y), each p(x|y) estimated with k importance samples from q(z|x,y) (Burda et al.
    /// 2015): an unbiased estimate of p(x) inside the log, so a bound on log p(x) in expectation. The labels are not
    /// used: M2's likelihood is of the image alone. One label at a time, so memory stays that of the CVAE's estimate.
    /// </summary>
    public override Tensor ImportanceWeightedLogLikelihood(Tensor x, int k, Generator? generator = null, Tensor? labels = null)
    {
        long b = x.shape[0];
        var perLabel = stack(Enumerable.Range(0, Classes)
            .Select(y => generative.ImportanceWeightedLogLikelihood(x, k, generator, full(b, Scalars.Of(y), dtype: ScalarType.Int64))).ToList());   // [10, B]
        return perLabel.logsumexp(0).sub_(Scalars.Of(Math.Log(Classes)));   // uniform p(y)
    }

    /// <summary>
    /// Classification error in percent on the set's labels, scored on what the classifier learned from: the fixed
    /// binarization of the set when training binarizes dynamically, the grey levels otherwise.
    /// </summary>
    public override Dictionary<string, double> Evaluate(ImageSet set, Binarization binarize)
    {
        using var images = Evaluation.FixedBinarization(set, binarize);
        return new() { [Metrics.Error] = Evaluation.ErrorPercent(Classify, images, set.Labels) };
    }

    public override IReadOnlyList<Stage> Stages(RunConfig config, TrainingData data)
    {
        Configure(config, data);
        return base.Stages(config, data);
    }

    /// <summary>α and the label balance's weights from the config and the run's label count.</summary>
    public void Configure(RunConfig config, TrainingData data)
    {
        double n = data.Pool.Count, labeled = data.LabeledCount;
        Alpha = config.Alpha > 0 ? config.Alpha : 0.1 * n / labeled;
        Weights = config.Balance == LabelBalance.Paper ? (labeled / n, (n - labeled) / n) : (1, 1);
    }
}
