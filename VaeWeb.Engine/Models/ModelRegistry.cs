using System.Collections.Concurrent;
using VaeWeb.Engine.Data;
using VaeWeb.Engine.Training;
using static TorchSharp.torch;

namespace VaeWeb.Engine.Models;

/// <summary>
/// A model as the rest of the app knows it: its name in configs ("m2"), a title for people, what it can do, which
/// architectures it has, which of <see cref="RunConfig"/>'s model-specific fields it uses (the form shows those),
/// which charts its run page draws, and how to build it from a config.
/// </summary>
public sealed record ModelInfo(string Name, string Title, Capability Capabilities, Architecture[] Architectures, string[] Options,
    Func<RunConfig, GenerativeModel> Create)
{
    /// <summary>What the architecture choice changes for this model, for the form (null: the obvious).</summary>
    public string? ArchitectureHelp { get; init; }

    /// <summary>
    /// Whether its training reads the run's <see cref="RunConfig.Binarize"/> (dynamic binarization or grey levels);
    /// false for a model that always trains on grey levels (the GANs whose discriminator sees real images), whose form
    /// hides the option.
    /// </summary>
    public bool Binarizes { get; init; } = true;

    /// <summary>
    /// Whether it can be built for a colour dataset's 32×32×3 images (<see cref="RunConfig.Image"/>); the form offers only
    /// these for colour sets, and <see cref="RunConfig.Validate"/> refuses the rest.
    /// </summary>
    public bool Colour { get; init; }

    /// <summary>
    /// Whether <see cref="RunConfig.Hidden"/> shapes its networks for this config (FC layers; DRAW's LSTM size); the form
    /// and the run page show the hidden sizes only then. Default: the FC architecture's.
    /// </summary>
    public Func<RunConfig, bool> UsesHidden { get; init; } = c => c.Arch == Architecture.Fc;

    /// <summary>The charts of its run page, of the metrics it reports; null: <see cref="MetricCharts.Default"/> for its capabilities.</summary>
    public IReadOnlyList<MetricChart>? Charts { get; init; }

    /// <summary>The charts its run page draws: its own, then the sample quality every model shares.</summary>
    public IReadOnlyList<MetricChart> AllCharts => [.. Charts ?? MetricCharts.Default(Capabilities), MetricCharts.Quality];

    /// <summary>
    /// The charts of a run on images of <paramref name="image"/>'s shape: <see cref="AllCharts"/> for grey runs; for colour
    /// runs its own, the test bound in bits per dimension when it charts an ELBO, and the sample quality saying why it
    /// stays empty (last, as always).
    /// </summary>
    public IReadOnlyList<MetricChart> ChartsFor(ImageShape image)
    {
        if (!image.IsColour) return AllCharts;
        var own = Charts ?? MetricCharts.Default(Capabilities);
        return [.. own, .. own.Contains(MetricCharts.Elbo) ? [MetricCharts.BitsPerDim] : Array.Empty<MetricChart>(), MetricCharts.QualityOfColour];
    }

    public bool Has(Capability capability) => (Capabilities & capability) == capability;
    public bool Uses(string option) => Options.Contains(option);
}

/// <summary>Every model that can be trained, by name. The engine registers its own; tests and plug-ins add theirs.</summary>
public static class ModelRegistry
{
    static readonly ConcurrentDictionary<string, ModelInfo> Models = new();
    static readonly Lock GlobalGenerator = new();

    static ModelRegistry()
    {
        const Capability vae = Capability.Encoder | Capability.Likelihood;
        // Grey datasets build the networks they always did (same layers, same checkpoint layout; the conv networks' hidden
        // units are the config's ConvNonlinearity); a colour dataset's shape gives the colour versions (discretized
        // logistic p(x|z), 3-plane convolutions).
        Register(new(ModelKind.Vae, "VAE", vae, [Architecture.Fc, Architecture.Conv], [nameof(RunConfig.ConvNonlinearity)],
            c => c.Arch == Architecture.Conv ? new ConvVae(c.Latent, c.Image, nonlinearity: c.ConvNonlinearity) : new Vae(c.Latent, c.Hidden, c.Image)) { Colour = true });
        Register(new(ModelKind.Cvae, "CVAE (conditional)", Capability.Encoder | Capability.Conditional | Capability.Likelihood, [Architecture.Fc, Architecture.Conv],
            [nameof(RunConfig.LearnedPrior), nameof(RunConfig.ConvNonlinearity)],
            c => new Cvae(c.Image.Pixels, c.Latent, c.Hidden, c.LearnedPrior, image: c.Image, convolutional: c.Arch == Architecture.Conv, nonlinearity: c.ConvNonlinearity))
        {
            Colour = true,
            ArchitectureHelp = "conv: the CVAE-GAN's encoder and decoder, y as ten planes beside the image and beside z",
        });
        string[] semi = [nameof(RunConfig.Labels), nameof(RunConfig.Split), nameof(RunConfig.Balance), nameof(RunConfig.Alpha)];
        const Capability m2 = Capability.Encoder | Capability.Conditional | Capability.Classifier | Capability.SemiSupervised;
        Register(new(ModelKind.M2, "M2 (semi-supervised)", m2 | Capability.Likelihood, [Architecture.Fc, Architecture.Conv], semi,
            c => new M2(c.Image.Pixels, c.Latent, c.Hidden, convolutional: c.Arch == Architecture.Conv, image: c.Image))
        {
            ArchitectureHelp = "conv: a convnet classifier q(y|x)",
            UsesHidden = _ => true,                                          // q(z|x,y) and p(x|y,z) stay FC with the conv classifier
            Colour = true,
        });
        Register(new(ModelKind.M1M2, "M1+M2 (semi-supervised)", m2, [Architecture.Fc], [.. semi, nameof(RunConfig.M1Epochs)],
            c => new M1M2(784, c.Latent, c.Hidden, c.Latent, [c.Hidden[0]])));
        Register(new(ModelKind.Draw, "DRAW (recurrent, attention)", Capability.Likelihood | Capability.Frames, [Architecture.Fc],
            [nameof(RunConfig.DrawSteps), nameof(RunConfig.Attention), nameof(RunConfig.ReadSize), nameof(RunConfig.WriteSize)],
            c => new Draw(c.Latent, c.Hidden[0], c.DrawSteps, c.Attention, c.ReadSize, c.WriteSize)));
        Register(new(ModelKind.DrawGan, "DRAW-GAN (DRAW with a discriminator on its canvas)", Capability.Likelihood | Capability.Frames | Capability.SeveralOptimizers, [Architecture.Fc],
            [nameof(RunConfig.DrawSteps), nameof(RunConfig.Attention), nameof(RunConfig.ReadSize), nameof(RunConfig.WriteSize), nameof(RunConfig.AdversarialWeight), nameof(RunConfig.JudgeReconstructions)],
            c => new DrawGan(c.Latent, c.Hidden[0], c.DrawSteps, c.Attention, c.ReadSize, c.WriteSize, c.AdversarialWeight, c.JudgeReconstructions))
        {
            ArchitectureHelp = "fc: DRAW's LSTMs, and a conv discriminator on its final canvas",
            Charts = DrawGan.Charts,
        });
        Register(new(ModelKind.VaeGan, "VAE-GAN (learned similarity)", Capability.Encoder | Capability.SeveralOptimizers, [Architecture.Conv],
            [nameof(RunConfig.Gamma), nameof(RunConfig.ConvNonlinearity)], c => new VaeGan(c.Latent, c.Gamma, c.Image, c.ConvNonlinearity))
        {
            Colour = true,
            ArchitectureHelp = "conv: the conv VAE's encoder and decoder, and a conv discriminator",
            Charts = LearnedSimilarityGan.Charts,
            Binarizes = false,
        });
        Register(new(ModelKind.CvaeGan, "CVAE-GAN (conditional VAE-GAN)", Capability.Encoder | Capability.Conditional | Capability.SeveralOptimizers, [Architecture.Conv],
            [nameof(RunConfig.Gamma), nameof(RunConfig.ConvNonlinearity)], c => new CvaeGan(c.Latent, c.Gamma, c.Image, c.ConvNonlinearity))
        {
            Colour = true,
            ArchitectureHelp = "conv: the VAE-GAN's networks with the label y beside the image (encoder, discriminator) and beside z (decoder)",
            Charts = LearnedSimilarityGan.Charts,
            Binarizes = false,
        });
        Register(new(ModelKind.SslGan, "SSL-GAN (semi-supervised GAN, feature matching)", Capability.Classifier | Capability.SemiSupervised | Capability.SeveralOptimizers,
            [Architecture.Fc], [nameof(RunConfig.Labels), nameof(RunConfig.Split)], c => new SslGan(c.Latent))
        {
            ArchitectureHelp = "fc: the released MNIST code's networks (discriminator 784-1000-500-250-250-250-10, generator z-500-500-784); the latent size is z's, the hidden sizes are not used",
            UsesHidden = _ => false,
            Charts = SslGan.Charts,
            Binarizes = false,
        });
    }

    /// <summary>Adds a model (or replaces one of the same name).</summary>
    public static void Register(ModelInfo model) => Models[Key(model.Name)] = model;

    public static IReadOnlyList<ModelInfo> All => [.. Models.Values.OrderBy(m => m.Name == ModelKind.Vae ? "" : m.Name)];

    /// <summary>The model of that name; spelling is forgiving ("M1+M2", "m1m2" and "m1-m2" are one model).</summary>
    public static ModelInfo? Find(string? name) => name is null ? null : Models.GetValueOrDefault(Key(name));

    public static ModelInfo Get(string name) => Find(name)
        ?? throw new InvalidConfigException([(nameof(RunConfig.Model), $"Unknown model '{name}'. Use one of: {string.Join(", ", All.Select(m => m.Name))}.")]);

    /// <summary>
    /// A freshly initialized model for the config, its weights determined by config.Seed. Initialization draws from
    /// torch's global generator (TorchSharp's layers take no generator), so seeding and building happen under one
    /// lock: a run started at the same moment cannot draw numbers out of the middle.
    /// </summary>
    public static GenerativeModel Create(RunConfig config)
    {
        var info = Get(config.Model);
        lock (GlobalGenerator)
        {
            manual_seed(config.Seed);
            return info.Create(config);
        }
    }

    static string Key(string name) => name.Replace("-", "").Replace("+", "").Replace("_", "").ToLowerInvariant();
}
