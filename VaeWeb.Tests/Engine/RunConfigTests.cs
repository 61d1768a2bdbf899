using VaeWeb.Engine.Training;

namespace VaeWeb.Tests.Engine;

public class RunConfigTests
{
    [Fact]
    public void Defaults_are_the_posters_fc_vae_and_valid()
    {
        var config = new RunConfig();
        Assert.Empty(config.Validate());
        Assert.Equal([500, 500], config.Hidden);
        Assert.Equal(100, config.BatchSize);
    }

    [Theory]
    [InlineData("Epochs", 1_000_000_000)]
    [InlineData("Latent", 0)]
    [InlineData("BatchSize", 100_000)]
    public void Out_of_bounds_values_are_rejected_with_a_message_naming_the_bounds(string field, int value)
    {
        var config = field switch
        {
            "Epochs" => new RunConfig { Epochs = value },
            "Latent" => new RunConfig { Latent = value },
            _ => new RunConfig { BatchSize = value },
        };
        var (errorField, message) = Assert.Single(config.Validate());
        Assert.Equal(field, errorField);
        Assert.Contains($"(got {value})", message);
        Assert.Throws<InvalidConfigException>(config.ThrowIfInvalid);
    }

    [Fact]
    public void Huge_layers_unknown_datasets_and_bad_learning_rates_are_rejected()
    {
        var errors = new RunConfig { Hidden = [500, 1_000_000], Dataset = "cifar", LearningRate = double.NaN }.Validate();
        Assert.Equal(["Dataset", "Hidden", "LearningRate"], errors.Select(e => e.Field).Order());
    }

    [Theory]
    [InlineData("svhn", "SVHN (Street View House Numbers) has 32×32×3 colour images; the ")]
    [InlineData("mnist-colour", "Coloured MNIST (SVHN stand-in) has 32×32×3 colour images; the ")]
    public void Colour_datasets_take_the_colour_models_only_and_never_binarized(string dataset, string message)
    {
        foreach (var model in VaeWeb.Engine.Models.ModelRegistry.All)
        {
            var errors = new RunConfig { Dataset = dataset, Model = model.Name, Arch = model.Architectures[0], Binarize = Binarization.None }.Validate();
            if (model.Colour) { Assert.Empty(errors); continue; }
            var (field, error) = Assert.Single(errors);
            Assert.Equal("Model", field);
            Assert.StartsWith(message + model.Title + " takes 28×28 grey images only", error);
            Assert.EndsWith("Colour models: vae, cvae, cvae-gan, m2, vae-gan.", error);
        }
        Assert.Contains(new RunConfig { Dataset = dataset }.Validate(), e => e.Field == "Binarize");
    }

    [Fact]
    public void Enum_numbers_outside_their_names_are_rejected()
    {
        var config = RunConfig.FromJson("""{ "binarize": 7, "arch": 9, "split": 3 }""");
        var errors = config.Validate();
        Assert.Equal(["Arch", "Binarize", "Split"], errors.Select(e => e.Field).Distinct().Order());
        Assert.Contains(errors, e => e.Message == "Unknown binarization 7. Use dynamic or none.");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(1001)]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    public void A_vae_gans_gamma_outside_0_to_1000_is_rejected_and_other_models_ignore_it(double gamma)
    {
        var vaeGan = new RunConfig { Model = ModelKind.VaeGan, Arch = Architecture.Conv, Gamma = gamma };
        var error = Assert.Single(vaeGan.Validate());
        Assert.Equal(("Gamma", $"Gamma must be in (0, 1000] (got {gamma})."), error);
        Assert.Empty((vaeGan with { Gamma = 1 }).Validate());
        Assert.Empty(new RunConfig { Gamma = gamma }.Validate());           // the VAE has no γ: it is never checked
        // The VAE-GAN has its conv networks only, and says which to choose.
        Assert.Contains(new RunConfig { Model = ModelKind.VaeGan, Arch = Architecture.Fc }.Validate(), e => e.Field == "Arch" && e.Message.EndsWith("choose conv."));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1001)]
    [InlineData(double.NaN)]
    public void A_cvae_gan_validates_gamma_as_the_vae_gan_does_and_has_conv_networks_only(double gamma)
    {
        var cvaeGan = new RunConfig { Model = ModelKind.CvaeGan, Arch = Architecture.Conv, Gamma = gamma };
        Assert.Equal(("Gamma", $"Gamma must be in (0, 1000] (got {gamma})."), Assert.Single(cvaeGan.Validate()));
        Assert.Empty((cvaeGan with { Gamma = 1 }).Validate());
        Assert.True(cvaeGan.IsConditional);
        Assert.Contains(new RunConfig { Model = ModelKind.CvaeGan, Arch = Architecture.Fc }.Validate(), e => e.Field == "Arch" && e.Message.EndsWith("choose conv."));
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(1001)]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    public void A_draw_gans_adversarial_weight_outside_0_to_1000_is_rejected_and_other_models_ignore_it(double weight)
    {
        var drawGan = new RunConfig { Model = ModelKind.DrawGan, AdversarialWeight = weight };
        Assert.Equal(("AdversarialWeight", $"The adversarial weight must be in [0, 1000] (got {weight})."), Assert.Single(drawGan.Validate()));
        Assert.Empty((drawGan with { AdversarialWeight = 0 }).Validate());   // λ = 0: DRAW's own objective, the discriminator only watching
        Assert.Empty(new RunConfig { Model = ModelKind.Draw, AdversarialWeight = weight }.Validate());
        // DRAW's own options are checked for it too, and its fields survive the saved config.
        Assert.Contains(new RunConfig { Model = ModelKind.DrawGan, DrawSteps = 0 }.Validate(), e => e.Field == "DrawSteps");
        var saved = RunConfig.FromJson((drawGan with { AdversarialWeight = 2.5, JudgeReconstructions = true }).ToJson());
        Assert.Equal((ModelKind.DrawGan, 2.5, true), (saved.Model, saved.AdversarialWeight, saved.JudgeReconstructions));
    }

    [Fact]
    public void Conv_networks_default_to_relu_and_a_conv_config_saved_before_the_choice_reads_as_softplus()
    {
        Assert.Equal(Nonlinearity.Relu, new RunConfig().ConvNonlinearity);
        // A config.json as written before the field existed: everything but "convNonlinearity".
        static string SavedBefore(RunConfig config)
        {
            var json = System.Text.Json.Nodes.JsonNode.Parse(config.ToJson())!.AsObject();
            Assert.True(json.Remove("convNonlinearity"));
            return json.ToJsonString();
        }
        foreach (var model in new[] { ModelKind.Vae, ModelKind.Cvae, ModelKind.VaeGan, ModelKind.CvaeGan })
        {
            var conv = new RunConfig { Model = model, Arch = Architecture.Conv };
            Assert.True(conv.UsesConvNonlinearity, model);
            Assert.Equal(Nonlinearity.Softplus, RunConfig.FromJson(SavedBefore(conv)).ConvNonlinearity);
            // Saved since: what it says, either way.
            Assert.Equal(Nonlinearity.Relu, RunConfig.FromJson(conv.ToJson()).ConvNonlinearity);
            Assert.Equal(Nonlinearity.Softplus, RunConfig.FromJson((conv with { ConvNonlinearity = Nonlinearity.Softplus }).ToJson()).ConvNonlinearity);
        }
        // Models without the conv VAE's networks read as they are written now, so their measurements keep one protocol.
        foreach (var other in new[] { new RunConfig(), new RunConfig { Model = ModelKind.M2, Arch = Architecture.Conv }, new RunConfig { Model = ModelKind.Draw } })
        {
            Assert.False(other.UsesConvNonlinearity);
            Assert.Equal(other.ToJson(), RunConfig.FromJson(SavedBefore(other)).ToJson());
        }
        var unknown = RunConfig.FromJson("""{ "arch": "conv", "convNonlinearity": 5 }""");
        Assert.Contains(("ConvNonlinearity", "Unknown conv non-linearity 5. Use relu or softplus."), unknown.Validate());
    }

    [Fact]
    public void Json_round_trip_keeps_every_field()
    {
        var config = new RunConfig { Arch = Architecture.Conv, Hidden = [300], Binarize = Binarization.None, Seed = 42, TrainLimit = 7 };
        var back = RunConfig.FromJson(config.ToJson());
        Assert.Equal(config.ToJson(), back.ToJson());
        Assert.Contains("\"arch\": \"conv\"", config.ToJson());
    }
}
