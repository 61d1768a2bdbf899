using TorchSharp.Modules;
using VaeWeb.Engine.Data;
using VaeWeb.Engine.Native;
using VaeWeb.Engine.Training;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VaeWeb.Engine.Models;

/// <summary>
/// DRAW-GAN, the poster's "DRAW with GANs: add a GAN on top of the last output of DRAW": <see cref="Draw"/> (Gregor et
/// al. 2015) unchanged, plus a discriminator on its final canvas σ(c_T). DRAW descends its own objective, the negative
/// ELBO −log p(x|c_T) + Σ_t KL (equations 9–12), plus λ times the non-saturating GAN loss (Goodfellow et al. 2014) of
/// its canvases: −log D(σ(c_T)) for canvases drawn from the prior z_1..T ~ N(0, I) and, with
/// <see cref="JudgesReconstructions"/>, for the canvases of its training pass (as Larsen et al. 2016 judge both). The
/// discriminator, with its own Adam (β1 = 0.5), descends −log D(x) − log(1 − D(fake)); neither loss reaches the other's
/// network, and Larsen et al.'s balance rule (<see cref="GanBalance"/>) rests whichever side is winning.
/// The discriminator sees grey levels, the real digits' and the canvases' means: binary digits against grey canvases it
/// would tell apart by their pixel values alone. DRAW's likelihood still sees a fresh binarization of each digit per step
/// (the run's option), so its bound is DRAW's and compares with a DRAW run's. Discriminator: <see cref="VaeGan"/>'s, two
/// stride-2 4x4 convolutions (32, 64 channels, LeakyReLU 0.2) and a linear judge.
/// </summary>
public sealed class DrawGan : GenerativeModel
{
    /// <summary>DRAW's whole update: its negative ELBO plus λ times its GAN term (when the balance rule lets the GAN term in).</summary>
    public const string DrawLoss = "draw";
    readonly Draw draw;
    readonly Sequential features;                                            // x [B, 784] → [B, 64·7·7]
    readonly Linear judge;                                                   // → logit of "x is a real digit", [B, 1]
    readonly GanBalance balance = new();

    /// <summary>λ: the weight of the GAN loss −log D(σ(c_T)) against DRAW's negative ELBO, both in nats per image.</summary>
    public double AdversarialWeight { get; }
    /// <summary>Whether the canvases of the training pass (reconstructions) are fakes too, beside those drawn from the prior.</summary>
    public bool JudgesReconstructions { get; }

    /// <summary>
    /// The run page's charts: DRAW's ELBO and terms (as a DRAW run's, to compare), each network's loss, and the
    /// discriminator's mean output on real digits and on prior canvases.
    /// </summary>
    public static readonly IReadOnlyList<MetricChart> Charts =
    [
        MetricCharts.Elbo, MetricCharts.Terms,
        new("losses", "Each network's loss (per image)", "nats",
        [
            new("step", DrawLoss, "DRAW: −ELBO + λ·GAN"), new("step", Metrics.GeneratorLoss, "DRAW's GAN part: −log D(σ(c_T))"),
            new("step", Metrics.DiscriminatorLoss, "discriminator: −log D(x) − log(1 − D(σ(c_T)))"),
        ]) { LogScale = true },
        new("discriminator", "Discriminator's mean output D(x)", "probability",
        [
            new("step", Metrics.RealScore, "real digits (step)"), new("step", Metrics.FakeScore, "prior canvases (step)"),
            new("test", Metrics.RealScore, "real test digits (epoch)"), new("test", Metrics.FakeScore, "prior canvases (epoch)"),
        ]),
    ];

    public DrawGan(int zSize = 100, int hidden = 256, int steps = 64, bool attention = true, int readSize = 2, int writeSize = 5,
        double adversarialWeight = 1, bool judgesReconstructions = false) : base(nameof(DrawGan))
    {
        (AdversarialWeight, JudgesReconstructions) = (adversarialWeight, judgesReconstructions);
        draw = new Draw(zSize, hidden, steps, attention, readSize, writeSize);
        features = Gan.DiscriminatorFeatures();                               // σ(c_T) [B, 784] → [B, 64·7·7]
        judge = Linear(Gan.FeatureSize, 1);
        RegisterComponents();
    }

    /// <summary>The DRAW it trains, for its steps and attention.</summary>
    public Draw Draw => draw;
    public override int Latent => draw.Latent;

    public override Generator? Noise
    {
        get => base.Noise;
        set { base.Noise = value; draw.Noise = value; }
    }

    public IEnumerable<Parameter> DiscriminatorParameters() => [.. features.parameters(), .. judge.parameters()];
    public IEnumerable<Parameter> DrawParameters() => draw.parameters();

    /// <summary>The logit of D(x) for images x [B, 784] in [0, 1], [B].</summary>
    Tensor Discriminate(Tensor x) => judge.forward(features.forward(x)).squeeze(1);

    /// <summary>σ(c_T) of canvases drawn from the prior, one per image of a batch of <paramref name="n"/>: [n, 784].</summary>
    Tensor PriorCanvases(long n)
    {
        var z = Noise is null ? randn(n, Latent) : randn(new long[] { n, Latent }, generator: Noise);
        return draw.DecodeLogits(z).sigmoid();
    }

    Tensor Binarized(Tensor x, Binarization binarize) => Evaluation.Binarize(x, binarize, Noise);

    /// <summary>The discriminator's −log D(x) − log(1 − D(prior canvas)) [− log(1 − D(reconstruction))] on grey digits x = batch.X; no gradient into DRAW.</summary>
    Loss DiscriminatorStep(Batch batch, Binarization binarize)
    {
        var x = batch.X!;
        Tensor prior, reconstruction = null!;
        using (no_grad())
        {
            prior = PriorCanvases(x.shape[0]);
            if (JudgesReconstructions) reconstruction = draw.LossAndCanvas(Binarized(x, binarize)).Canvas.sigmoid();
        }
        var real = Discriminate(x);
        var fake = Discriminate(prior);
        var (realLoss, fakeLoss) = (Gan.Bce(real, true), Gan.Bce(fake, false));
        balance.Observe(realLoss, fakeLoss);
        var loss = realLoss.Plus(fakeLoss);
        if (JudgesReconstructions) loss = loss.Plus(Gan.Bce(Discriminate(reconstruction), false));
        return new(loss, new Dictionary<string, Tensor>
        {
            [Metrics.DiscriminatorLoss] = loss, [Metrics.RealScore] = real.sigmoid().mean(), [Metrics.FakeScore] = fake.sigmoid().mean(),
        });
    }

    /// <summary>
    /// DRAW's negative ELBO on a fresh binarization of the grey digits batch.X, plus λ·(−log D(σ(c_T))) of prior canvases
    /// (and of the pass's own canvases); the discriminator's layers pass the gradient on and keep none.
    /// </summary>
    Loss DrawStep(Batch batch, Binarization binarize)
    {
        var x = batch.X!;
        using var _ = Gan.Frozen(DiscriminatorParameters());
        var (loss, canvas) = draw.LossAndCanvas(Binarized(x, binarize));
        var gan = Gan.Bce(Discriminate(PriorCanvases(x.shape[0])), true);
        if (JudgesReconstructions) gan = gan.Plus(Gan.Bce(Discriminate(canvas.sigmoid()), true));
        var whole = loss.Objective.Plus(gan.mul(Scalars.Of(AdversarialWeight)));
        var terms = new Dictionary<string, Tensor>(loss.Terms) { [Metrics.GeneratorLoss] = gan, [DrawLoss] = whole };
        return new(balance.GeneratorFoolsIt ? whole : loss.Objective, terms);
    }

    /// <summary>DRAW's update on dynamically binarized digits, for runs with a single optimizer (not used by <see cref="Stages"/>).</summary>
    public override Loss Loss(Batch batch) => DrawStep(batch, Binarization.Dynamic);

    /// <summary>
    /// Discriminator first (Adam β1 = 0.5, as for GANs), then DRAW (β1 = 0.9, DRAW's own). The stage hands over grey
    /// levels: DRAW's update binarizes them itself with the run's option, the discriminator judges them as they are.
    /// </summary>
    public override IReadOnlyList<Stage> Stages(RunConfig config, TrainingData data) =>
    [
        new Stage("", config.Epochs,
        [
            new Update("discriminator", DiscriminatorParameters(), config.LearningRate, b => DiscriminatorStep(b, config.Binarize)) { Beta1 = 0.5, Active = () => balance.DiscriminatorLearns },
            new Update("draw", DrawParameters(), config.LearningRate, b => DrawStep(b, config.Binarize)),
        ])
        { Binarize = false, Evaluate = set => Evaluate(set, config.Binarize) },
    ];

    /// <summary>DRAW's test bound and its terms (<see cref="Draw.Evaluate"/>), and the discriminator's mean output on the grey test digits and on prior canvases.</summary>
    public override Dictionary<string, double> Evaluate(ImageSet set, Binarization binarize)
    {
        var metrics = draw.Evaluate(set, binarize);
        using var _ = no_grad();
        bool wasTraining = training;
        eval();
        using var generator = new Generator((ulong)Evaluation.EvaluationSeed);
        double real = 0, fake = 0;
        for (long start = 0; start < set.Count; start += 500)
        {
            using var scope = NewDisposeScope();
            long size = Math.Min(500, set.Count - start);
            real += Discriminate(set.Images.narrow(0, start, size)).sigmoid().sum().item<float>();
            var z = randn(new long[] { size, Latent }, generator: generator);
            fake += Discriminate(draw.DecodeLogits(z).sigmoid()).sigmoid().sum().item<float>();
        }
        train(wasTraining);
        metrics[Metrics.RealScore] = real / set.Count;
        metrics[Metrics.FakeScore] = fake / set.Count;
        return metrics;
    }

    public override Tensor Decode(Tensor z, Tensor? labels) => draw.Decode(z, labels);
    public override Tensor Reconstruct(Tensor x, Tensor? labels) => draw.Reconstruct(x, labels);
    public override DrawingSteps Frames(Tensor z, Tensor? labels) => draw.Frames(z, labels);
    public override DrawingSteps ReconstructionFrames(Tensor x, Tensor? labels) => draw.ReconstructionFrames(x, labels);
    public override Tensor ImportanceWeightedLogLikelihood(Tensor x, int k, Generator? generator = null, Tensor? labels = null) =>
        draw.ImportanceWeightedLogLikelihood(x, k, generator, labels);
}
