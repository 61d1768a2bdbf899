using VaeWeb.Engine.Models;
using static TorchSharp.torch;

namespace VaeWeb.Engine.Training;

public static class ModelFactory
{
    /// <summary>
    /// Initialization draws from torch's global generator (TorchSharp's layers take no generator), so seeding and
    /// building happen under one lock: a run started at the same moment cannot draw numbers out of the middle.
    /// </summary>
    static readonly Lock GlobalGenerator = new();

    /// <summary>A freshly initialized model for the config, its weights determined by config.Seed.</summary>
    public static VariationalAutoencoder Create(RunConfig config)
    {
        lock (GlobalGenerator)
        {
            manual_seed(config.Seed);
            return Build(config);
        }
    }

    /// <summary>Any model of the config, conditional ones included, its weights determined by config.Seed.</summary>
    public static TorchSharp.torch.nn.Module CreateModule(RunConfig config)
    {
        if (!config.IsConditional) return Create(config);
        lock (GlobalGenerator)
        {
            manual_seed(config.Seed);
            return config.Model switch
            {
                ModelKind.Cvae => new Cvae(784, config.Latent, config.Hidden, config.LearnedPrior),
                ModelKind.M2 => new M2(784, config.Latent, config.Hidden, convolutional: config.Arch == Architecture.Conv),
                ModelKind.M1M2 => new M1M2(784, config.Latent, config.Hidden, config.Latent, [config.Hidden[0]]),
                _ => throw new InvalidConfigException([("Model", $"Unknown model {config.Model}.")]),
            };
        }
    }

    static VariationalAutoencoder Build(RunConfig config) => (config.Model, config.Arch) switch
    {
        (ModelKind.Vae, Architecture.Fc) => new Vae(784, config.Latent, config.Hidden),
        (ModelKind.Vae, Architecture.Conv) => new ConvVae(config.Latent),
        _ => throw new InvalidConfigException([("Model", $"No {config.Arch} architecture for model {config.Model}.")]),
    };
}
