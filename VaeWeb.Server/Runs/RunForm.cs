using VaeWeb.Engine.Training;

namespace VaeWeb.Server.Runs;

/// <summary>
/// The new-run form's state: every RunConfig field, editable, with hidden sizes as text. Validation is the engine's own
/// (<see cref="RunConfig.Validate"/>), so the form, the API and the CLI reject exactly the same values.
/// </summary>
public sealed class RunForm
{
    public string Name { get; set; } = "";
    public ModelKind Model { get; set; }
    public Architecture Arch { get; set; }
    public string Dataset { get; set; } = "mnist";
    public int Latent { get; set; }
    public string Hidden { get; set; } = "";
    public int Epochs { get; set; }
    public int BatchSize { get; set; }
    public double LearningRate { get; set; }
    public long Seed { get; set; }
    public Binarization Binarize { get; set; }
    public int TrainLimit { get; set; }
    public int TestLimit { get; set; }
    public int Labels { get; set; }
    public VaeWeb.Engine.Data.ValidationSplit Split { get; set; }
    public double Alpha { get; set; }
    public bool LearnedPrior { get; set; }
    public int M1Epochs { get; set; }
    public double MaxMinutes { get; set; }

    public RunForm() => Apply(new RunConfig());

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
    ];

    public void Apply(RunConfig c)
    {
        (Model, Arch, Dataset, Latent, Epochs, BatchSize, LearningRate, Seed, Binarize, TrainLimit, TestLimit) =
            (c.Model, c.Arch, c.Dataset, c.Latent, c.Epochs, c.BatchSize, c.LearningRate, c.Seed, c.Binarize, c.TrainLimit, c.TestLimit);
        (Labels, Split, Alpha, LearnedPrior, M1Epochs, MaxMinutes) = (c.Labels, c.Split, c.Alpha, c.LearnedPrior, c.M1Epochs, c.MaxMinutes);
        Hidden = string.Join(", ", c.Hidden);
    }

    /// <summary>The config, or the message for the hidden-sizes text when it is not a list of whole numbers.</summary>
    public (RunConfig? Config, string? HiddenError) ToConfig()
    {
        var parts = Hidden.Split([',', ' '], StringSplitOptions.RemoveEmptyEntries);
        var widths = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], out widths[i])) return (null, $"'{parts[i]}' is not a whole number: give widths like 500, 500.");
        return (new RunConfig
        {
            Model = Model, Arch = Arch, Dataset = Dataset, Latent = Latent, Hidden = widths, Epochs = Epochs, BatchSize = BatchSize,
            LearningRate = LearningRate, Seed = Seed, Binarize = Binarize, TrainLimit = TrainLimit, TestLimit = TestLimit,
            Labels = Labels, Split = Split, Alpha = Alpha, LearnedPrior = LearnedPrior, M1Epochs = M1Epochs, MaxMinutes = MaxMinutes,
        }, null);
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
