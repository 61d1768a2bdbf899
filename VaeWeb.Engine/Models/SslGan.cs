using TorchSharp;
using TorchSharp.Modules;
using VaeWeb.Engine.Data;
using VaeWeb.Engine.Native;
using VaeWeb.Engine.Training;
using static TorchSharp.torch;

namespace VaeWeb.Engine.Models;

/// <summary>
/// The semi-supervised GAN of Salimans, Goodfellow, Zaremba, Cheung, Radford &amp; Chen (2016), "Improved techniques for
/// training GANs", Section 5 with feature matching (Section 3.1). The discriminator is a classifier with K + 1 outputs:
/// K = 10 class logits l_1..l_K and a fake class whose logit is fixed at 0, so with Z(x) = Σ_k exp l_k(x) the
/// probability that x is real is D(x) = Z(x) / (Z(x) + 1) and p(y|x, real) is the softmax of the K logits. It learns
/// L = L_supervised + L_unsupervised: cross-entropy on the labeled images, and −log D(x) on unlabeled real images plus
/// −log(1 − D(G(z))) on generated ones. The generator matches the mean of the discriminator's last hidden layer on real
/// and generated images.
/// </summary>
/// <remarks>
/// Networks, noise, initialization and optimizer follow the released MNIST code (openai/improved-gan,
/// mnist_svhn_cifar10/train_mnist_feature_matching.py and nn.py). Where this departs from it:
/// <list type="bullet">
/// <item>Data: the M2 rows' split (55,000 pool / 5,000 validation, labels drawn balanced by <see cref="LabeledSplit"/>) and
/// the checkpoint of the best validation error; the released code trains on all 60,000 with no validation set.</item>
/// <item>The error that picks the checkpoint (and the one the charts show) is the current weights'; the released code
/// scores an exponential moving average of the discriminator's weights (rate 1e-4, started at zero). That average is
/// kept too and its error reported per epoch as <see cref="AveragedErrorMetric"/>, bias-corrected (see
/// <see cref="WithAveragedWeights"/>).</item>
/// <item>The generator's feature-matching batch is the step's unlabeled batch, not a second independent permutation.</item>
/// <item>Adam is the engine's <see cref="FusedAdam"/> with ε = 1e-4 added to √v̂, where the released code adds 1e-8
/// under the root (the two agree within a factor √2 everywhere); lr 0.003 (the run's learning rate) and β1 = 0.5,
/// constant: the released MNIST script does not decay it (its CIFAR-10 and SVHN scripts do).</item>
/// <item>The generator's batch normalization uses its running averages outside training (samples, the explore page);
/// the released code always normalizes with the batch's own statistics.</item>
/// </list>
/// The noise size is the run's latent size (the paper: 100); the hidden sizes are the paper's and fixed.
/// </remarks>
public sealed class SslGan : GenerativeModel
{
    public const int Classes = 10;
    /// <summary>Per-step metric: the generator's feature-matching loss (Section 3.1).</summary>
    public const string FeatureMatching = "feature-matching";

    /// <summary>
    /// The run page's charts: validation and test error (and the test error of the averaged weights the released code
    /// scores), and the step's three losses — the discriminator's labeled and unlabeled terms and the generator's.
    /// </summary>
    public static readonly IReadOnlyList<MetricChart> Charts =
    [
        MetricCharts.Error with { Traces = [.. MetricCharts.Error.Traces, new("test", AveragedErrorMetric, "test error, averaged weights")] },
        new("bounds", "Loss terms (per image)", "nats",
        [
            new("step", Metrics.Labeled, "labeled cross-entropy (step)"), new("step", Metrics.Unlabeled, "unlabeled −log D(x) − log(1 − D(G(z))) (step)"),
            new("step", FeatureMatching, "feature matching (step)"),
        ]),
    ];
    /// <summary>The discriminator's hidden widths in the released MNIST code.</summary>
    public static readonly int[] DiscriminatorHidden = [1000, 500, 250, 250, 250];
    public const int GeneratorHidden = 500;
    /// <summary>Standard deviation of the Gaussian noise added to the discriminator's input and to each hidden layer's output.</summary>
    public const double InputNoise = 0.3, HiddenNoise = 0.5;
    /// <summary>Images of the data-dependent initialization (the released code: 500).</summary>
    public const int InitializationImages = 500;
    /// <summary>Adam's ε outside the root, matching the released code's 1e-8 under it (see <see cref="Update.Epsilon"/>).</summary>
    public const double AdamEpsilon = 1e-4;

    readonly WeightNormLinear[] discriminator;                               // 784-1000-500-250-250-250-10
    readonly Linear generator1, generator2;                                  // z → 500 → 500, no bias (batch norm's β replaces it)
    readonly BatchNorm1d norm1, norm2;                                       // without scale (the released code's g=None)
    readonly Parameter beta1, beta2;                                         // batch norm's shift, [500] each
    readonly WeightNormLinear generatorOut;                                  // 500 → 784, sigmoid
    readonly int latent;
    // 1 once the data-dependent initialization has run; saved with the weights, so a resumed run does not redo it.
    readonly Tensor initialized;
    // The released code's exponential moving average of the discriminator's weights, one per learned parameter, and
    // how many steps it has averaged, [1]; buffers, so checkpoints and resume states keep them.
    readonly Tensor[] averages;
    readonly Tensor averagedSteps;
    Tensor? initializationImages;

    public override int Latent => latent;

    /// <param name="latent">Size of the uniform noise z (the paper: 100).</param>
    public SslGan(int latent = 100) : base(nameof(SslGan))
    {
        this.latent = latent;
        var widths = new[] { 784 }.Concat(DiscriminatorHidden).Append(Classes).ToArray();
        // Hidden layers: ReLU, weight scale fixed after initialization; the output layer learns its scale (train_scale=True).
        discriminator = [.. Enumerable.Range(0, widths.Length - 1).Select(i =>
            new WeightNormLinear($"d{i}", widths[i], widths[i + 1], trainScale: i == widths.Length - 2))];
        generator1 = nn.Linear(latent, GeneratorHidden, hasBias: false);
        generator2 = nn.Linear(GeneratorHidden, GeneratorHidden, hasBias: false);
        norm1 = nn.BatchNorm1d(GeneratorHidden, eps: 1e-6, affine: false);
        norm2 = nn.BatchNorm1d(GeneratorHidden, eps: 1e-6, affine: false);
        beta1 = new Parameter(zeros(GeneratorHidden));
        beta2 = new Parameter(zeros(GeneratorHidden));
        // Lasagne's DenseLayer draws W Glorot-uniform; l2normalize then learns a per-unit scale from 1.
        generatorOut = new WeightNormLinear("g-out", GeneratorHidden, 784, trainScale: true, directionStd: null);
        initialized = zeros(1);
        register_buffer("initialized", initialized);
        for (int i = 0; i < discriminator.Length; i++) register_module($"discriminator{i}", discriminator[i]);
        averages = [.. DiscriminatorParameters.Select(p => zeros_like(p))];
        for (int i = 0; i < averages.Length; i++) register_buffer($"average{i}", averages[i]);
        averagedSteps = zeros(1);
        register_buffer("averaged_steps", averagedSteps);
        RegisterComponents();
    }

    /// <summary>The discriminator's trainable parameters (directions, biases, the output layer's scale).</summary>
    public IEnumerable<Parameter> DiscriminatorParameters => discriminator.SelectMany(l => l.Learned);

    /// <summary>The generator's parameters.</summary>
    public IEnumerable<Parameter> GeneratorParameters =>
        generator1.parameters().Concat(generator2.parameters()).Append(beta1).Append(beta2).Concat(generatorOut.parameters());

    /// <summary>
    /// The discriminator on x [B, 784]: the K class logits [B, 10] (the fake class's logit is the constant 0, not
    /// computed) and its last hidden layer [B, 250] after the ReLU, before that layer's noise, for feature matching.
    /// Gaussian noise (σ 0.3 on the input, 0.5 after every hidden layer) in training only.
    /// </summary>
    public (Tensor Logits, Tensor Features) Discriminate(Tensor x)
    {
        var h = Noisy(x, InputNoise);
        Tensor features = h;
        for (int i = 0; i < discriminator.Length - 1; i++)
        {
            features = nn.functional.relu(discriminator[i].forward(h));
            h = Noisy(features, HiddenNoise);
        }
        return (discriminator[^1].forward(h), features);
    }

    Tensor Noisy(Tensor x, double sigma) =>
        !training ? x : x.add(randn(x.shape, generator: Noise).mul_(Scalars.Of(sigma)), Scalars.One);

    /// <summary>G(z): z [n, Latent] in [0, 1) → pixel intensities [n, 784]; softplus hidden layers with batch norm.</summary>
    public override Tensor Decode(Tensor z, Tensor? labels)
    {
        var h = Scalars.Softplus(norm1.forward(generator1.forward(z)).Plus(beta1));
        h = Scalars.Softplus(norm2.forward(generator2.forward(h)).Plus(beta2));
        return generatorOut.forward(h).sigmoid();
    }

    /// <summary>
    /// z of the released code is uniform on [0, 1)^100: the contract's standard normal ε [n, Latent] maps to it through the
    /// normal CDF Φ, which is exactly uniform for ε ~ N(0, 1) (a temperature below 1 draws z nearer the centre).
    /// </summary>
    public override Tensor Prior(Tensor eps, Tensor? labels) =>
        eps.mul(Scalars.Of(Math.Sqrt(0.5))).erf_().add_(Scalars.One).mul_(Scalars.Of(0.5));

    /// <summary>n generated images [n, 784] from fresh uniform noise of the run's generator.</summary>
    public Tensor Generate(long n) => Decode(rand(new long[] { n, latent }, generator: Noise), null);

    /// <summary>p(y|x, real) as logits [B, 10]: the softmax over the K class logits alone.</summary>
    public override Tensor Classify(Tensor x) => Discriminate(x).Logits;

    /// <summary>
    /// A GAN has no inference network: the "reconstruction" is the image itself, so the run page's grid and the draw
    /// tab show the input where an auto-encoder shows its reconstruction.
    /// </summary>
    public override Tensor Reconstruct(Tensor x, Tensor? labels) => x.alias();

    /// <summary>−log D(x) per image [B] from class logits [B, K]: D = Z/(Z+1) = σ(log Z), so −log D = softplus(−logsumexp l).</summary>
    public static Tensor NegativeLogReal(Tensor logits) => Scalars.Softplus(logits.logsumexp(1).neg());

    /// <summary>−log(1 − D(x)) per image [B]: 1 − D = 1/(Z+1), so −log(1 − D) = log(1 + Z) = softplus(logsumexp l).</summary>
    public static Tensor NegativeLogFake(Tensor logits) => Scalars.Softplus(logits.logsumexp(1));

    /// <summary>L_supervised: cross-entropy of the labels under p(y|x, real), batch mean; logits [B, 10], labels [B].</summary>
    public static Tensor LabeledLoss(Tensor logits, Tensor labels) => nn.functional.cross_entropy(logits, labels);

    /// <summary>
    /// L_unsupervised = −E log D(x) − E log(1 − D(G(z))) (Section 5), each a batch mean: logits of real unlabeled images
    /// [B, 10] and of generated ones [B', 10].
    /// </summary>
    public static Tensor UnlabeledLoss(Tensor realLogits, Tensor fakeLogits) =>
        NegativeLogReal(realLogits).mean().Plus(NegativeLogFake(fakeLogits).mean());

    /// <summary>
    /// Feature matching (Section 3.1): ‖E f(x) − E f(G(z))‖² with f the discriminator's last hidden layer and E the batch
    /// mean, divided by the layer's width as in the released code (the mean over its 250 units).
    /// </summary>
    public static Tensor FeatureMatchingLoss(Tensor realFeatures, Tensor fakeFeatures) =>
        realFeatures.mean([0]).sub(fakeFeatures.mean([0])).Square().mean();

    /// <summary>
    /// The discriminator's step: L_supervised on the labeled batch plus ½ L_unsupervised on the unlabeled batch and as
    /// many generated images (the released code's ½: a mean over the real and fake halves). The generator runs without
    /// gradient. Returns the objective and the labeled and unlabeled losses.
    /// </summary>
    public Loss DiscriminatorLoss(Batch batch)
    {
        SetDiscriminatorTrainable(true);
        InitializeIfNeeded();
        var x = batch.X ?? batch.LabeledX!;                                  // [B, 784] (every label given: the labeled images)
        Tensor fake;
        using (no_grad()) fake = Generate(x.shape[0]);                        // [B, 784]
        // One pass over the three batches: one matrix product per layer instead of three; each row draws its own noise.
        long l = batch.LabeledX!.shape[0], b = x.shape[0];
        var logits = Discriminate(cat([batch.LabeledX!, x, fake], 0)).Logits;  // [l + 2B, 10]
        var labeled = LabeledLoss(logits.narrow(0, 0, l), batch.LabeledY!);
        var unlabeled = UnlabeledLoss(logits.narrow(0, l, b), logits.narrow(0, l + b, b));
        return new(labeled.Plus(unlabeled.mul(Scalars.Of(0.5))), new Dictionary<string, Tensor>
        {
            [Metrics.Labeled] = labeled, [Metrics.Unlabeled] = unlabeled,
        });
    }

    /// <summary>
    /// The generator's step: feature matching against the unlabeled batch. The real features carry no gradient, and the
    /// discriminator's parameters stop requiring one until its next step, so backward reaches the generator only.
    /// </summary>
    public Loss GeneratorLoss(Batch batch)
    {
        UpdateAverages();                                                    // the discriminator has just stepped
        var x = batch.X ?? batch.LabeledX!;
        Tensor real;
        using (no_grad()) real = Discriminate(x).Features;                  // [B, 250]
        SetDiscriminatorTrainable(false);
        var loss = FeatureMatchingLoss(real, Discriminate(Generate(x.shape[0])).Features);
        return new(loss, new Dictionary<string, Tensor> { [FeatureMatching] = loss });
    }

    /// <summary>Both steps' objectives summed, for the contract's single-update callers; training uses <see cref="Stages"/>.</summary>
    public override Loss Loss(Batch batch)
    {
        var d = DiscriminatorLoss(batch);
        var g = GeneratorLoss(batch);
        SetDiscriminatorTrainable(true);
        return new(d.Objective.Plus(g.Objective), d.Terms.Concat(g.Terms).ToDictionary());
    }

    void SetDiscriminatorTrainable(bool trainable)
    {
        foreach (var layer in discriminator) layer.SetTrainable(trainable);
    }

    /// <summary>
    /// Test (or validation) error in percent on the set's grey levels, which the discriminator learned from; the same
    /// with the discriminator's averaged weights (<see cref="AveragedErrorMetric"/>); and the spread of the generator's
    /// samples (<see cref="SampleSpread"/>). A generator collapsed to one image fails the run.
    /// </summary>
    public override Dictionary<string, double> Evaluate(ImageSet set, Binarization binarize)
    {
        var spread = CheckCollapse();
        var metrics = new Dictionary<string, double> { [Metrics.Error] = Evaluation.ErrorPercent(Classify, set.Images, set.Labels), [SpreadMetric] = spread };
        if (averagedSteps.item<float>() > 0)
            metrics[AveragedErrorMetric] = WithAveragedWeights(() => Evaluation.ErrorPercent(Classify, set.Images, set.Labels));
        return metrics;
    }

    /// <summary>Per-epoch metric: the error with the discriminator's averaged weights, as the released code scores its test error.</summary>
    public const string AveragedErrorMetric = "averaged-error";
    /// <summary>Rate of the moving average of the discriminator's weights (the released code's 1e-4 per step).</summary>
    public const double AverageRate = 1e-4;

    /// <summary>a ← a + 1e-4·(p − a) for every learned parameter p of the discriminator, after its step.</summary>
    void UpdateAverages()
    {
        using var _ = no_grad();
        foreach (var (average, p) in averages.Zip(DiscriminatorParameters))
            average.mul_(Scalars.Of(1 - AverageRate)).add_(p, Scalars.Of(AverageRate));
        averagedSteps.add_(Scalars.One);
    }

    /// <summary>
    /// Runs <paramref name="evaluate"/> with the averaged weights in place of the discriminator's, then puts them back.
    /// The average starts at zero as in the released code but is divided by 1 − (1 − rate)^t: without that, it would
    /// hold a fraction 1 − e^(−rate·t) of the weights (5% after the first 550 steps), which a 300-epoch run outgrows
    /// and a budget of tens of epochs does not.
    /// </summary>
    public T WithAveragedWeights<T>(Func<T> evaluate)
    {
        using var _ = no_grad();
        var parameters = DiscriminatorParameters.ToArray();
        var saved = parameters.Select(p => p.clone()).ToArray();
        try
        {
            double correction = 1 / (1 - Math.Pow(1 - AverageRate, averagedSteps.item<float>()));
            for (int i = 0; i < parameters.Length; i++) parameters[i].copy_(averages[i]).mul_(Scalars.Of(correction));
            return evaluate();
        }
        finally
        {
            for (int i = 0; i < parameters.Length; i++) { parameters[i].copy_(saved[i]); saved[i].Dispose(); }
        }
    }

    /// <summary>Per-epoch metric: <see cref="SampleSpread"/>.</summary>
    public const string SpreadMetric = "sample-spread";
    /// <summary>Below this spread the samples are one image (100 MNIST test digits: 0.18).</summary>
    public const double CollapsedSpread = 0.01;
    /// <summary>
    /// Evaluations in a row (after different steps) with the samples one image before the run fails: a generator can
    /// pass through a collapse early on and recover (seen in 20-step epochs of 2,000 images), a collapsed one stays.
    /// </summary>
    public const int CollapsedEvaluations = 3;
    // The step count and spread of the latest check (test and validation are evaluated after the same step), and how
    // many checks in a row found the samples one image.
    float checkedAt = -1;
    double checkedSpread;
    int collapsedInARow;

    /// <summary>The samples' spread, once per evaluated step; throws when they have been one image <see cref="CollapsedEvaluations"/> times in a row.</summary>
    double CheckCollapse()
    {
        var step = averagedSteps.item<float>();
        if (step == checkedAt) return checkedSpread;
        (checkedAt, checkedSpread) = (step, SampleSpread());
        collapsedInARow = checkedSpread < CollapsedSpread ? collapsedInARow + 1 : 0;
        if (collapsedInARow >= CollapsedEvaluations)
            throw new TrainingDivergedException(
                $"The generator collapsed: at {CollapsedEvaluations} evaluations in a row its samples were all one image (their pixels vary by {checkedSpread:G2} on average, real digits' by about 0.18); try a lower learning rate or another seed.");
        return checkedSpread;
    }

    /// <summary>
    /// How much 100 samples of fixed noise differ: the standard deviation over the samples of each pixel, averaged over
    /// the pixels. Near 0 when the generator has collapsed to one image (Salimans et al. 2016, Section 3.2's failure mode).
    /// </summary>
    public double SampleSpread()
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        using var generator = new Generator((ulong)Evaluation.EvaluationSeed);   // disposed after use, not finalized mid-call
        var z = rand(new long[] { 100, latent }, generator: generator);
        return Decode(z, null).std(0).mean().item<float>();
    }

    /// <summary>
    /// One stage of two updates per step, the discriminator's then the generator's, each its own Adam with β1 = 0.5 at
    /// the run's learning rate (the released code: 0.003). Pixels stay grey levels: a GAN's generator makes intensities.
    /// </summary>
    public override IReadOnlyList<Stage> Stages(RunConfig config, TrainingData data)
    {
        // The first images of the pool for the data-dependent initialization, done at the first step (not on resume).
        initializationImages = data.Pool.Images.narrow(0, 0, Math.Min(InitializationImages, data.Pool.Count));
        return
        [
            new Stage("", config.Epochs,
            [
                new Update("discriminator", DiscriminatorParameters, config.LearningRate, DiscriminatorLoss) { Beta1 = 0.5, Epsilon = AdamEpsilon },
                new Update("generator", GeneratorParameters, config.LearningRate, GeneratorLoss) { Beta1 = 0.5, Epsilon = AdamEpsilon },
            ])
            { Binarize = false, Evaluate = set => Evaluate(set, config.Binarize) },
        ];
    }

    void InitializeIfNeeded()
    {
        if (initializationImages is null || initialized.item<float>() != 0) return;
        Initialize(initializationImages);
    }

    /// <summary>
    /// The data-dependent initialization of weight normalization (Salimans &amp; Kingma 2016, Section 3), as the released
    /// code does it: x [N, 784] passes through the discriminator with its noise, and each layer in turn sets its scale
    /// and bias so that its pre-activations have mean 0 and variance 1 over x.
    /// </summary>
    public void Initialize(Tensor x)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        bool wasTraining = training;
        train();
        var h = Noisy(x, InputNoise);
        for (int i = 0; i < discriminator.Length; i++)
        {
            var normalized = discriminator[i].Initialize(h);
            if (i < discriminator.Length - 1) h = Noisy(nn.functional.relu(normalized), HiddenNoise);
        }
        initialized.fill_(Scalars.One);
        train(wasTraining);
    }
}

/// <summary>
/// A linear layer with weight normalization (Salimans &amp; Kingma 2016): w_j = g_j · v_j / ‖v_j‖ for each output unit j,
/// y = x wᵀ + b. TorchSharp has no weight-norm wrapper. Computed as (x vᵀ) · g/‖v‖ + b, which is the same product
/// without forming w.
/// </summary>
public sealed class WeightNormLinear : nn.Module<Tensor, Tensor>
{
    readonly Parameter v;                                                    // [out, in] directions
    readonly Parameter g;                                                    // [out] scales
    readonly Parameter b;                                                    // [out]
    readonly bool trainScale;

    /// <param name="trainScale">Whether g is learned; otherwise it is set once by <see cref="Initialize"/> and kept.</param>
    /// <param name="directionStd">v ~ N(0, σ²) (the released code's DenseLayer: 0.1); null: Glorot-uniform, as Lasagne's DenseLayer.</param>
    public WeightNormLinear(string name, int inputs, int outputs, bool trainScale, double? directionStd = 0.1) : base(name)
    {
        var direction = empty(outputs, inputs);
        if (directionStd is { } std) nn.init.normal_(direction, 0, std);
        else nn.init.xavier_uniform_(direction);
        v = new Parameter(direction);
        g = new Parameter(ones(outputs), requires_grad: trainScale);
        b = new Parameter(zeros(outputs));
        this.trainScale = trainScale;
        RegisterComponents();
    }

    /// <summary>g/‖v‖ per output unit, [out]; the 1e-6 under the root is the released code's.</summary>
    Tensor Scale() => g.div(v.Square().sum(1).add_(Scalars.Of(1e-6)).sqrt_());

    public override Tensor forward(Tensor x) => nn.functional.linear(x, v).mul(Scale()).Plus(b);

    /// <summary>
    /// Sets g ← g/σ and b ← −μ/σ from the mean μ and standard deviation σ over x [N, in] of the pre-activations at
    /// b = 0, so the layer's outputs on x are standardized; returns them, [N, out].
    /// </summary>
    public Tensor Initialize(Tensor x)
    {
        using var _ = no_grad();
        var t = nn.functional.linear(x, v).mul(Scale());
        var mean = t.mean([0]);
        var std = t.sub(mean).Square().mean([0]).add_(Scalars.Of(1e-8)).sqrt_();
        g.div_(std);
        b.copy_(mean.neg().div_(std));
        return t.sub(mean).div_(std);
    }

    /// <summary>The parameters training updates: v, b, and g when <c>trainScale</c>.</summary>
    public IEnumerable<Parameter> Learned => trainScale ? [v, g, b] : [v, b];

    /// <summary>Stops (or restarts) gradients to the learned parameters; a fixed scale stays fixed.</summary>
    public void SetTrainable(bool trainable)
    {
        v.requires_grad = trainable;
        b.requires_grad = trainable;
        g.requires_grad = trainable && trainScale;
    }
}
