using System.Text.Json;
using System.Text.Json.Serialization;
using VaeWeb.Engine.Data;
using VaeWeb.Engine.Models;

namespace VaeWeb.Engine.Training;

/// <summary>The names of the engine's own models, as configs spell them.</summary>
public static class ModelKind
{
    /// <summary>Unconditional VAE (Kingma &amp; Welling 2013).</summary>
    public const string Vae = "vae";
    /// <summary>Conditional VAE, trained on every label: samples and restyles by class.</summary>
    public const string Cvae = "cvae";
    /// <summary>Semi-supervised M2 (Kingma et al. 2014): a classifier learned from a few labels and many unlabeled images.</summary>
    public const string M2 = "m2";
    /// <summary>M2 on the latent means of an M1 VAE trained first on all images (Kingma et al. 2014, M1+M2).</summary>
    public const string M1M2 = "m1-m2";
    /// <summary>DRAW (Gregor et al. 2015): a recurrent writer that draws in T steps, with or without attention.</summary>
    public const string Draw = "draw";
    /// <summary>Semi-supervised GAN (Salimans et al. 2016): a K+1-class discriminator and a feature-matching generator.</summary>
    public const string SslGan = "ssl-gan";
    /// <summary>VAE-GAN (Larsen et al. 2016): a conv VAE whose reconstruction is judged in a discriminator's features.</summary>
    public const string VaeGan = "vae-gan";
    /// <summary>CVAE-GAN: the VAE-GAN conditioned on the label (encoder, decoder and discriminator see y).</summary>
    public const string CvaeGan = "cvae-gan";
    /// <summary>DRAW-GAN: DRAW with a discriminator on its final canvas, whose GAN loss joins DRAW's objective.</summary>
    public const string DrawGan = "draw-gan";
}

public enum Architecture { Fc, Conv }

/// <summary>
/// M2, M1+M2: how a step weighs its labeled and unlabeled images (Kingma et al. 2014, equation 9:
/// J^α = Σ_labeled L(x,y) + Σ_unlabeled U(x) + α·E_labeled[−log q(y|x)], with α = 0.1·N).
/// </summary>
public enum LabelBalance
{
    /// <summary>
    /// Each step takes a labeled batch as large as the unlabeled one and adds the two batch means with weight 1 each:
    /// the labeled bound weighs N/N_labeled times more than in equation 9 (55× at 1000 labels of 55,000).
    /// </summary>
    Oversampled,
    /// <summary>
    /// Equation 9 divided by N: the labeled batch is sized in proportion to the labeled count (at least one image)
    /// and the batch means are weighted N_labeled/N and N_unlabeled/N, as in Kingma et al.'s released code.
    /// </summary>
    Paper,
}

/// <summary>The hidden units of the conv VAE's encoder and decoder (conv VAE and CVAE, VAE-GAN, CVAE-GAN).</summary>
public enum Nonlinearity
{
    /// <summary>max(0, x): the convolutional default.</summary>
    Relu,
    /// <summary>log(1 + eˣ), the poster's FC non-linearity, which the conv networks used until 2026-11-28.</summary>
    Softplus,
}

/// <summary>How pixel intensities in [0, 1] become the data the Bernoulli likelihood scores.</summary>
public enum Binarization
{
    /// <summary>A fresh Bernoulli sample of every image at every step (Salakhutdinov &amp; Murray 2008); the usual MNIST benchmark.</summary>
    Dynamic,
    /// <summary>Grey levels used as soft targets of the cross-entropy ("continuous BCE"): not a likelihood, but sharper means.</summary>
    None,
}

/// <summary>
/// Everything that defines a training run. Saved as config.json in the run folder and inside each checkpoint;
/// on resume the saved config wins over the command line.
/// </summary>
public sealed record RunConfig
{
    /// <summary>A registered model's name (<see cref="ModelRegistry"/>), spelled as registered once the config is built.</summary>
    public string Model { get => _model; init => _model = ModelRegistry.Find(value)?.Name ?? value; }
    string _model = ModelKind.Vae;
    public Architecture Arch { get; init; } = Architecture.Fc;
    public string Dataset { get; init; } = "mnist";
    public int Latent { get; init; } = 50;
    /// <summary>Hidden layer widths of the FC encoder; the decoder mirrors them. 500-500 is the poster's network.</summary>
    public int[] Hidden { get; init; } = [500, 500];
    public int Epochs { get; init; } = 10;
    public int BatchSize { get; init; } = 100;
    public double LearningRate { get; init; } = 1e-3;
    public long Seed { get; init; } = 1;
    public Binarization Binarize { get; init; } = Binarization.Dynamic;
    /// <summary>Train on the first N training images only (0 = all). For quick tests and demos on 2 cores.</summary>
    public int TrainLimit { get; init; }
    /// <summary>Evaluate on the first N test images only (0 = all); for M2 and M1+M2 also the first N validation images.</summary>
    public int TestLimit { get; init; }

    // Conditional and semi-supervised models.
    /// <summary>Semi-supervised models (M2, M1+M2, SSL-GAN): how many training labels the model sees, drawn balanced over the classes (0 = all of them).</summary>
    public int Labels { get; init; } = 1000;
    /// <summary>Semi-supervised models: the poster's 55,000/5,000 training/validation split or Kingma et al.'s 50,000/10,000.</summary>
    public ValidationSplit Split { get; init; } = ValidationSplit.Poster;
    /// <summary>
    /// M2, M1+M2: weight of −log q(y|x) per labeled image, against weight 1 for its labeled bound. Equation 9's
    /// α = 0.1·N multiplies the mean of −log q(y|x) over the labeled images: per labeled image that is 0.1·N/N_labeled
    /// (5.5 at 1000 labels of 55,000), which the trainer uses when this is 0.
    /// </summary>
    public double Alpha { get; init; }
    /// <summary>M2, M1+M2: equation 9's weighting of labeled against unlabeled images, or labels oversampled (see <see cref="LabelBalance"/>).</summary>
    public LabelBalance Balance { get; init; } = LabelBalance.Oversampled;
    /// <summary>CVAE: a learned Gaussian p(z|y) per class instead of N(0, I).</summary>
    public bool LearnedPrior { get; init; }
    /// <summary>M1+M2: epochs of unsupervised M1 training before M2 learns on its features.</summary>
    public int M1Epochs { get; init; } = 10;
    // DRAW: Latent is the size of each step's z_t and Hidden[0] the size of both LSTMs (the paper's MNIST model: 100, 256).
    /// <summary>DRAW: glimpses T, each an encoder and a decoder LSTM step that adds to the canvas (the paper's MNIST model: 64).</summary>
    public int DrawSteps { get; init; } = 64;
    /// <summary>DRAW: read and write through Gaussian filterbanks (Section 3.2), or the whole image (Section 3.1).</summary>
    public bool Attention { get; init; } = true;
    /// <summary>DRAW with attention: the read glimpse is N×N (the paper's MNIST model: 2).</summary>
    public int ReadSize { get; init; } = 2;
    /// <summary>DRAW with attention: the write patch is N×N (the paper's MNIST model: 5).</summary>
    public int WriteSize { get; init; } = 5;
    /// <summary>
    /// VAE-GAN, CVAE-GAN: γ, the weight of the feature-space reconstruction error L_llike against the GAN loss in the decoder's
    /// update (Larsen et al. 2016, equation 9). L_llike sums ½(difference)² over the discriminator's 3,136 features of an
    /// image, hundreds of nats early on, while the GAN loss is a few nats: γ = 0.01 makes the two pull comparably.
    /// </summary>
    public double Gamma { get; init; } = 1e-2;
    /// <summary>
    /// DRAW-GAN: λ, the weight of the GAN loss −log D(σ(c_T)) against DRAW's negative ELBO in DRAW's update. Both are
    /// nats per image, but the ELBO is ≈ 80–200 nats and the GAN loss ≈ 0.7 at balance: λ = 1 lets the GAN term shape
    /// the samples without dominating the bound (its bound stays comparable with DRAW's); not yet tuned by measurement.
    /// </summary>
    public double AdversarialWeight { get; init; } = 1;
    /// <summary>DRAW-GAN: the canvases of DRAW's training pass (reconstructions) are fakes too, beside the prior's (as in Larsen et al. 2016).</summary>
    public bool JudgeReconstructions { get; init; }
    /// <summary>
    /// Conv VAE networks (conv VAE and CVAE, VAE-GAN, CVAE-GAN): their hidden units. ReLU, because softplus with
    /// PyTorch's default initialization shrinks the signal at every layer: on MNIST (3 epochs of 20,000 images) the
    /// softplus conv VAE stayed collapsed (KL 0, test ELBO −199.8) where ReLU reached −129.8. Configs saved before this
    /// field existed read as softplus, so their checkpoints decode as they were trained (<see cref="FromJson"/>).
    /// </summary>
    public Nonlinearity ConvNonlinearity { get; init; } = Nonlinearity.Relu;
    /// <summary>Stop after the epoch that ends past this many minutes of training (0 = no limit): fixed-time comparisons.</summary>
    public double MaxMinutes { get; init; }
    /// <summary>
    /// Lower every learning rate linearly from its value to 0 over the last stage's budget: its share of
    /// <see cref="MaxMinutes"/> when set, else its epochs. Why: under a fixed budget a constant rate ends on its noisiest
    /// iterate, and a linear decay to 0 was the best schedule at every budget in Li, Yumer &amp; Ramanan (2020, "Budgeted
    /// training"). Steps past a time budget (the rest of the epoch that crosses it) run at rate 0.
    /// </summary>
    public bool DecayLearningRate { get; init; }

    /// <summary>
    /// Labeled images per step of a semi-supervised run with <paramref name="labeled"/> of <paramref name="pool"/> images
    /// labeled: a full batch when oversampled; in proportion (at least one) under equation 9's balance. A model without
    /// the balance option (the SSL-GAN, whose released code takes a full labeled batch every step) is always oversampled.
    /// </summary>
    public int LabeledBatchSize(long labeled, long pool) => Balance == LabelBalance.Paper && Info?.Uses(nameof(Balance)) != false
        ? (int)Math.Max(1, Math.Round((double)BatchSize * labeled / pool))
        : BatchSize;

    /// <summary>The registered model of <see cref="Model"/>, with its capabilities; null when the name is unknown.</summary>
    [JsonIgnore] public ModelInfo? Info => ModelRegistry.Find(Model);
    [JsonIgnore] public bool IsSemiSupervised => Info?.Has(Capability.SemiSupervised) == true;
    [JsonIgnore] public bool IsConditional => Info?.Has(Capability.Conditional) == true;
    /// <summary>Whether <see cref="ConvNonlinearity"/> shapes this config's networks: a model built on the conv VAE's networks, conv architecture.</summary>
    [JsonIgnore] public bool UsesConvNonlinearity => Arch == Architecture.Conv && Info?.Uses(nameof(ConvNonlinearity)) == true;

    /// <summary>The shape of the dataset's images, which the model is built for (MNIST's 28×28 grey when the dataset is unknown).</summary>
    [JsonIgnore] public ImageShape Image => Datasets.Find(Dataset)?.Shape ?? ImageShape.Grey28;

    // Bounds that keep one request from taking the server down (memory, hours of CPU); generous for real work.
    public const int MaxEpochs = 1000, MaxLatent = 512, MaxHiddenWidth = 4096, MaxHiddenLayers = 4, MaxBatch = 4096, MaxDrawSteps = 128;

    /// <summary>Every problem with this config, as (field, message); empty when it can be trained.</summary>
    public IReadOnlyList<(string Field, string Message)> Validate()
    {
        var errors = new List<(string, string)>();
        void Check(bool ok, string field, string message) { if (!ok) errors.Add((field, message)); }
        // JSON numbers bind to any integer of an enum ("binarize": 7 once trained silently as something undefined).
        Check(Enum.IsDefined(Arch), nameof(Arch), $"Unknown architecture {(int)Arch}. Use fc or conv.");
        Check(Enum.IsDefined(Binarize), nameof(Binarize), $"Unknown binarization {(int)Binarize}. Use dynamic or none.");
        Check(Enum.IsDefined(Split), nameof(Split), $"Unknown split {(int)Split}. Use poster or kingma.");
        Check(Enum.IsDefined(Balance), nameof(Balance), $"Unknown label balance {(int)Balance}. Use oversampled or paper.");
        Check(Enum.IsDefined(ConvNonlinearity), nameof(ConvNonlinearity), $"Unknown conv non-linearity {(int)ConvNonlinearity}. Use relu or softplus.");
        Check(Datasets.Names.Contains(Dataset), nameof(Dataset), $"Unknown dataset '{Dataset}'. Use one of: {string.Join(", ", Datasets.Names)}.");
        Check(Latent is >= 1 and <= MaxLatent, nameof(Latent), $"Latent size must be between 1 and {MaxLatent} (got {Latent}).");
        Check(Hidden is { Length: >= 1 and <= MaxHiddenLayers }, nameof(Hidden), $"Give 1 to {MaxHiddenLayers} hidden layer widths (got {Hidden?.Length ?? 0}).");
        foreach (var width in Hidden ?? [])
            Check(width is >= 1 and <= MaxHiddenWidth, nameof(Hidden), $"Each hidden layer must have 1 to {MaxHiddenWidth} units (got {width}).");
        Check(Epochs is >= 1 and <= MaxEpochs, nameof(Epochs), $"Epochs must be between 1 and {MaxEpochs} (got {Epochs}).");
        Check(BatchSize is >= 1 and <= MaxBatch, nameof(BatchSize), $"Batch size must be between 1 and {MaxBatch} (got {BatchSize}).");
        Check(LearningRate is > 0 and <= 1 && double.IsFinite(LearningRate), nameof(LearningRate), $"Learning rate must be in (0, 1] (got {LearningRate}).");
        Check(TrainLimit >= 0, nameof(TrainLimit), "Train limit must be 0 (all) or a positive count.");
        Check(TestLimit >= 0, nameof(TestLimit), "Test limit must be 0 (all) or a positive count.");
        Check(MaxMinutes >= 0 && double.IsFinite(MaxMinutes), nameof(MaxMinutes), "The time limit must be 0 (none) or a positive number of minutes.");
        var info = Info;
        Check(info is not null, nameof(Model), $"Unknown model '{Model}'. Use one of: {string.Join(", ", ModelRegistry.All.Select(m => m.Name))}.");
        if (info is null) return errors;
        if (Datasets.Find(Dataset) is { IsColour: true } colour)
        {
            // Colour sets (32×32×3, 8-bit) take the models built for them, which score sub-pixels with a discretized
            // logistic: a Bernoulli draw of a colour value means nothing.
            Check(info.Colour, nameof(Model), ColourNotSupported(colour, info));
            Check(Binarize == Binarization.None, nameof(Binarize),
                $"{colour.Title} is colour: binarization applies to grey MNIST-like images only. Use binarize none (the colour models score 8-bit sub-pixels with a discretized logistic).");
        }
        Check(info.Architectures.Contains(Arch), nameof(Arch),
            $"The {info.Title} has no {Arch.ToString().ToLowerInvariant()} architecture; choose {string.Join(" or ", info.Architectures.Select(a => a.ToString().ToLowerInvariant()))}.");
        if (info.Uses(nameof(Labels)))
            Check(Labels is >= 0 and <= 60_000 && Labels % 10 == 0, nameof(Labels),
                $"Labels must be a multiple of 10 (the same count for each of the ten classes) between 10 and the training set size, or 0 for all (got {Labels}).");
        if (info.Uses(nameof(Alpha)))
            Check(Alpha >= 0 && double.IsFinite(Alpha), nameof(Alpha), $"Alpha must be 0 (automatic) or positive (got {Alpha}).");
        if (info.Uses(nameof(DrawSteps)))
            Check(DrawSteps is >= 1 and <= MaxDrawSteps, nameof(DrawSteps), $"DRAW's steps must be between 1 and {MaxDrawSteps} (got {DrawSteps}).");
        if (info.Uses(nameof(ReadSize)))
            Check(ReadSize is >= 1 and <= 28, nameof(ReadSize), $"The read glimpse must be 1 to 28 pixels square (got {ReadSize}).");
        if (info.Uses(nameof(WriteSize)))
            Check(WriteSize is >= 1 and <= 28, nameof(WriteSize), $"The write patch must be 1 to 28 pixels square (got {WriteSize}).");
        if (info.Uses(nameof(Gamma)))
            Check(Gamma is > 0 and <= 1000 && double.IsFinite(Gamma), nameof(Gamma), $"Gamma must be in (0, 1000] (got {Gamma}).");
        if (info.Uses(nameof(AdversarialWeight)))
            Check(AdversarialWeight is >= 0 and <= 1000 && double.IsFinite(AdversarialWeight), nameof(AdversarialWeight),
                $"The adversarial weight must be in [0, 1000] (got {AdversarialWeight}).");
        if (info.Uses(nameof(M1Epochs)))
            Check(M1Epochs is >= 1 and <= MaxEpochs, nameof(M1Epochs), $"M1 epochs must be between 1 and {MaxEpochs} (got {M1Epochs}).");
        return errors;
    }

    /// <summary>Why a model cannot train on a colour dataset: the form, the CLI and the API all say this.</summary>
    public static string ColourNotSupported(DatasetInfo dataset, ModelInfo model) =>
        $"{dataset.Title} has 32×32×3 colour images; the {model.Title} takes 28×28 grey images only. Colour models: {string.Join(", ", ColourModels)}.";

    /// <summary>The names of the models that train on colour datasets.</summary>
    public static IEnumerable<string> ColourModels => ModelRegistry.All.Where(m => m.Colour).Select(m => m.Name);

    public void ThrowIfInvalid()
    {
        var errors = Validate();
        if (errors.Count > 0) throw new InvalidConfigException(errors);
    }

    /// <summary>
    /// How configs are saved and read back (run folders, checkpoints, resume states, the database, results). Reading
    /// goes through <see cref="SavedConfigConverter"/>; the web API binds posted configs with its own options.
    /// </summary>
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower), new SavedConfigConverter() },
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);
    public static RunConfig FromJson(string json) => JsonSerializer.Deserialize<RunConfig>(json, Json)
        ?? throw new InvalidDataException("Empty run config.");

    /// <summary>
    /// A saved config as it was trained. A conv one lacking <see cref="ConvNonlinearity"/> was saved before the field
    /// existed, when the conv networks were softplus: it reads as softplus, so its checkpoint decodes as trained and its
    /// measurements stay a protocol of their own. Other models' configs read as written.
    /// </summary>
    sealed class SavedConfigConverter : JsonConverter<RunConfig>
    {
        /// <summary><see cref="Json"/> without this converter: how the record itself reads and writes.</summary>
        static readonly JsonSerializerOptions Plain = WithoutThis(Json);

        static JsonSerializerOptions WithoutThis(JsonSerializerOptions options)
        {
            var copy = new JsonSerializerOptions(options);
            copy.Converters.Remove(copy.Converters.OfType<SavedConfigConverter>().Single());
            return copy;
        }

        public override RunConfig? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            using var document = JsonDocument.ParseValue(ref reader);
            var config = document.Deserialize<RunConfig>(Plain);
            if (config is null || !config.UsesConvNonlinearity || document.RootElement.EnumerateObject().Any(p =>
                    p.Name.Equals(nameof(ConvNonlinearity), StringComparison.OrdinalIgnoreCase)))
                return config;
            return config with { ConvNonlinearity = Nonlinearity.Softplus };
        }

        public override void Write(Utf8JsonWriter writer, RunConfig value, JsonSerializerOptions options) => JsonSerializer.Serialize(writer, value, Plain);
    }
}

public sealed class InvalidConfigException(IReadOnlyList<(string Field, string Message)> errors)
    : ArgumentException(string.Join(" ", errors.Select(e => e.Message)))
{
    public IReadOnlyList<(string Field, string Message)> Errors { get; } = errors;
}
