using VaeWeb.Engine.Models;

namespace VaeWeb.Engine.Training;

public static class ModelFactory
{
    /// <summary>A freshly initialized model for the config (initialization draws from the global seed).</summary>
    public static VariationalAutoencoder Create(RunConfig config) => (config.Model, config.Arch) switch
    {
        (ModelKind.Vae, Architecture.Fc) => new Vae(784, config.Latent, config.Hidden),
        (ModelKind.Vae, Architecture.Conv) => new ConvVae(config.Latent),
        _ => throw new InvalidConfigException([("Model", $"No {config.Arch} architecture for model {config.Model}.")]),
    };
}
