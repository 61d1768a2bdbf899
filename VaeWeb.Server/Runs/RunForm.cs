using VaeWeb.Engine.Data;
using VaeWeb.Engine.Models;
using VaeWeb.Engine.Training;

namespace VaeWeb.Server.Runs;

/// <summary>
/// The new-run form's state: a <see cref="RunConfig"/> edited field by field with `with`, the hidden sizes as text, and
/// the run's name. Validation is the engine's own (<see cref="RunConfig.Validate"/>), so the form, the API and the CLI
/// reject exactly the same values; the model-specific fields shown are the ones the registered model uses.
/// </summary>
public sealed class RunForm
{
    public string Name { get; set; } = "";
    public RunConfig Config { get; private set; } = new();
    public string Hidden { get; set; } = "";

    public RunForm() => Apply(new RunConfig());

    /// <summary>Changes the config, e.g. <c>Set(c => c with { Epochs = 5 })</c>.</summary>
    public void Set(Func<RunConfig, RunConfig> change) => Config = change(Config);

    /// <summary>
    /// Chooses the model; when it has no network of the current architecture, its first one (VAE-GAN: conv only), so
    /// choosing a model never leaves the form invalid by itself.
    /// </summary>
    public void ChooseModel(string model) => Set(c => ModelRegistry.Find(model) is { } info && !info.Architectures.Contains(c.Arch)
        ? c with { Model = model, Arch = info.Architectures[0] }
        : c with { Model = model });

    /// <summary>
    /// Chooses the dataset. A colour set (32×32×3) takes grey levels, never binarized, and a model built for colour
    /// (<see cref="ModelInfo.Colour"/>; the VAE when the chosen one is grey-only); back on a grey set, binarization
    /// returns to dynamic. So choosing a dataset never leaves the form invalid by itself either.
    /// </summary>
    public void ChooseDataset(string dataset)
    {
        bool wasColour = IsColour;
        Set(c => c with { Dataset = dataset });
        if (IsColour)
            Set(c => c with
            {
                Binarize = Binarization.None,
                Model = c.Info?.Colour == true ? c.Model : ModelKind.Vae,
                Arch = c.Info?.Colour == true ? c.Arch : Architecture.Conv,
            });
        else if (wasColour)
            Set(c => c with { Binarize = Binarization.Dynamic });
    }

    /// <summary>Whether the chosen dataset has colour images: only colour models are offered, and no binarization.</summary>
    public bool IsColour => Datasets.Find(Config.Dataset)?.IsColour == true;

    /// <summary>Whether the model can be chosen for the dataset: any on a grey set, the colour models on a colour one.</summary>
    public bool Offers(ModelInfo model) => !IsColour || model.Colour;

    /// <summary>Whether the chosen model uses this model-specific field (<see cref="ModelInfo.Options"/>).</summary>
    public bool Shows(string field) => Config.Info?.Uses(field) == true;

    /// <summary>
    /// Whether the binarization option is shown: the chosen model reads it (<see cref="ModelInfo.Binarizes"/>; the GANs
    /// train on grey levels) and the dataset is grey (colour sub-pixels are scored by a discretized logistic, never binarized).
    /// </summary>
    public bool ShowsBinarization => Config.Info?.Binarizes != false && !IsColour;

    public sealed record Preset(string Name, string Description, RunConfig Config);

    public static readonly IReadOnlyList<Preset> Presets =
    [
        new("Poster: FC VAE", "784-500-500-50, Bernoulli, dynamic binarization, 10 epochs (about a minute per 10 epochs here)", new RunConfig()),
        new("Poster: convolutional VAE", "two stride-2 convolutions, 50 latent units, 10 epochs", new RunConfig { Arch = Architecture.Conv }),
        new("Fashion-MNIST FC VAE", "the poster's network on Fashion-MNIST", new RunConfig { Dataset = "fashion-mnist" }),
        new("Quick look", "FC VAE, 2 epochs on 5,000 digits: seconds", new RunConfig { Epochs = 2, TrainLimit = 5000, TestLimit = 1000 }),
        new("CVAE", "conditional VAE on every label, learned prior p(z|y): samples one row per digit", new RunConfig { Model = ModelKind.Cvae, LearnedPrior = true }),
        new("Poster: M2 with a conv classifier, 1000 labels", "semi-supervised; about 80 s per epoch here, under 5% test error after the first", new RunConfig { Model = ModelKind.M2, Arch = Architecture.Conv, Labels = 1000, Epochs = 15 }),
        new("Poster: FC M2, 600 labels", "semi-supervised, the poster's 784-500-500-50 networks", new RunConfig { Model = ModelKind.M2, Labels = 600, Epochs = 20 }),
        new("M1+M2, 100 labels", "M2 on the features of an M1 VAE trained first (Kingma et al. 2014)", new RunConfig { Model = ModelKind.M1M2, Labels = 100, Epochs = 30 }),
        new("Paper: SSL-GAN, 100 labels", "Salimans et al. 2016, feature matching: the released MNIST code's networks, z of 100, Adam at 0.003; about 75 s per epoch here",
            new RunConfig { Model = ModelKind.SslGan, Labels = 100, Latent = 100, LearningRate = 3e-3, Epochs = 50 }),
        new("Paper: DRAW with attention", "Gregor et al.'s MNIST model: T = 64, read 2×2, write 5×5, LSTMs of 256, z of 100 per step",
            new RunConfig { Model = ModelKind.Draw, Latent = 100, Hidden = [256], DrawSteps = 64, ReadSize = 2, WriteSize = 5, Epochs = 20 }),
        new("DRAW, 90 minutes", "T = 16 with attention (read and write 5×5), LSTMs of 256, z of 100 per step, stopped after 90 minutes: " +
            "four times cheaper a step than the paper's; the draw-t16-attention row of docs/results.md",
            new RunConfig { Model = ModelKind.Draw, Latent = 100, Hidden = [256], DrawSteps = 16, ReadSize = 5, WriteSize = 5, Epochs = RunConfig.MaxEpochs, MaxMinutes = 90 }),
        new("Paper: DRAW without attention", "T = 64, the whole image read and the whole canvas written, LSTMs of 256, z of 100",
            new RunConfig { Model = ModelKind.Draw, Latent = 100, Hidden = [256], DrawSteps = 64, Attention = false, Epochs = 20 }),
        new("VAE-GAN", "Larsen et al. 2016 with the conv VAE's networks and γ = 1, on grey levels: a Fréchet distance of 64 after 6 epochs (17 min on one core here)",
            new RunConfig { Model = ModelKind.VaeGan, Arch = Architecture.Conv, Gamma = 1, Binarize = Binarization.None, Epochs = 6 }),
        new("CVAE-GAN", "the VAE-GAN conditioned on the label (encoder, decoder and discriminator see y), γ = 1, on grey levels: samples one row per digit",
            new RunConfig { Model = ModelKind.CvaeGan, Arch = Architecture.Conv, Gamma = 1, Binarize = Binarization.None, Epochs = 6 }),
        new("Coloured MNIST: conv VAE", "32×32×3 digits on textured backgrounds: discretized logistic p(x|z), bits per dimension; 5 epochs on 10,000 images",
            new RunConfig { Dataset = ColouredMnist.Name, Arch = Architecture.Conv, Binarize = Binarization.None, Epochs = 5, TrainLimit = 10_000, TestLimit = 2000 }),
        new("Coloured MNIST: M2 with a conv classifier, 1000 labels", "semi-supervised on the colour stand-in for SVHN (the reproduce row m2-conv-svhn-1000 on SVHN itself)",
            new RunConfig { Dataset = ColouredMnist.Name, Model = ModelKind.M2, Arch = Architecture.Conv, Binarize = Binarization.None, Labels = 1000, Epochs = 10 }),
        new("DRAW-GAN, 90 minutes", "the DRAW, 90 minutes preset (T = 16, read and write 5×5) with a discriminator on its final canvas, λ = 1",
            new RunConfig { Model = ModelKind.DrawGan, Latent = 100, Hidden = [256], DrawSteps = 16, ReadSize = 5, WriteSize = 5, Epochs = RunConfig.MaxEpochs, MaxMinutes = 90 }),
    ];

    public void Apply(RunConfig c)
    {
        Config = c;
        Hidden = string.Join(", ", c.Hidden);
    }

    /// <summary>The config, or the message for the hidden-sizes text when it is not a list of whole numbers.</summary>
    public (RunConfig? Config, string? HiddenError) ToConfig()
    {
        var parts = Hidden.Split([',', ' '], StringSplitOptions.RemoveEmptyEntries);
        var widths = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], out widths[i])) return (null, $"'{parts[i]}' is not a whole number: give widths like 500, 500.");
        return (Config with { Hidden = widths }, null);
    }

    /// <summary>Error message per RunConfig field name ("Epochs", "Hidden", …).</summary>
    public Dictionary<string, string> Errors()
    {
        var (config, hiddenError) = ToConfig();
        var errors = (config?.Validate() ?? []).GroupBy(e => e.Field).ToDictionary(g => g.Key, g => string.Join(" ", g.Select(e => e.Message)));
        if (hiddenError is not null) errors["Hidden"] = hiddenError;
        return errors;
    }
}

/// <summary>The config as rows of a table: the common fields, and the model-specific ones its model uses.</summary>
public static class RunConfigRows
{
    public static IEnumerable<(string Name, string Value)> For(RunConfig c)
    {
        var info = c.Info;
        bool Uses(string field) => info?.Uses(field) == true;
        if (Uses(nameof(RunConfig.Labels))) yield return ("labels", c.Labels == 0 ? "all" : $"{c.Labels:N0}, balanced");
        if (Uses(nameof(RunConfig.Split))) yield return ("train / validation split", c.Split == ValidationSplit.Poster ? "55,000 / 5,000 (poster)" : "50,000 / 10,000 (Kingma et al.)");
        if (Uses(nameof(RunConfig.Balance))) yield return ("label balance", c.Balance == LabelBalance.Paper ? "equation 9 (the paper)" : "oversampled labels");
        if (Uses(nameof(RunConfig.Alpha))) yield return ("alpha", c.Alpha == 0 ? "0.1·N / labels" : $"{c.Alpha:G4}");
        if (Uses(nameof(RunConfig.M1Epochs))) yield return ("M1 epochs", $"{c.M1Epochs}");
        if (Uses(nameof(RunConfig.LearnedPrior))) yield return ("prior p(z|y)", c.LearnedPrior ? "learned per class" : "N(0, I)");
        if (c.UsesConvNonlinearity) yield return ("conv hidden units", c.ConvNonlinearity == Nonlinearity.Relu ? "ReLU" : "softplus");
        if (Uses(nameof(RunConfig.Gamma))) yield return ("γ (L_llike against the GAN loss)", $"{c.Gamma:G4}");
        if (Uses(nameof(RunConfig.AdversarialWeight))) yield return ("λ (GAN loss against DRAW's −ELBO)", $"{c.AdversarialWeight:G4}");
        if (Uses(nameof(RunConfig.JudgeReconstructions))) yield return ("fakes judged", c.JudgeReconstructions ? "prior canvases and reconstructions" : "prior canvases");
        if (Uses(nameof(RunConfig.DrawSteps))) yield return ("steps T", $"{c.DrawSteps}");
        if (Uses(nameof(RunConfig.Attention)))
            yield return ("attention", c.Attention ? $"read {c.ReadSize}×{c.ReadSize}, write {c.WriteSize}×{c.WriteSize}" : "none (whole image read, whole canvas written)");
        if (c.MaxMinutes > 0) yield return ("time limit", $"{c.MaxMinutes:G4} min");
        yield return ("model", $"{c.Model} ({c.Arch})".ToLowerInvariant());
        yield return ("dataset", c.Dataset);
        yield return ("latent size", $"{c.Latent}");
        if (info?.UsesHidden(c) != false) yield return ("hidden sizes", string.Join(", ", c.Hidden));
        yield return ("epochs", $"{c.Epochs}");
        yield return ("batch size", $"{c.BatchSize}");
        yield return ("learning rate", c.DecayLearningRate
            ? $"{c.LearningRate:G4}, falling linearly to 0 over the {(c.MaxMinutes > 0 ? "time limit" : "epochs")}"
            : $"{c.LearningRate:G4}");
        yield return ("seed", $"{c.Seed}");
        yield return ("binarization", info?.Binarizes == false ? "none (the model trains on grey levels)" : c.Binarize.ToString().ToLowerInvariant());
        yield return ("training images", c.TrainLimit == 0 ? "all" : $"{c.TrainLimit:N0}");
        yield return ("test images", c.TestLimit == 0 ? "all" : $"{c.TestLimit:N0}");
    }
}
