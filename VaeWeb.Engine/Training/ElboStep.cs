using VaeWeb.Engine.Models;
using static TorchSharp.torch;

namespace VaeWeb.Engine.Training;

/// <summary>
/// One Adam step on the negative ELBO of a batch: the inner loop shared by <see cref="Trainer"/> and the benchmark,
/// so what `bench` measures is what `train` runs.
/// </summary>
public sealed class ElboStep(VariationalAutoencoder model, RunConfig config, Generator generator) : IDisposable
{
    readonly FusedAdam _optimizer = new(model.parameters(), config.LearningRate);

    /// <summary>images: [B, 784] in [0, 1]. Returns the batch sums of −log p(x|z) and KL, in nats.</summary>
    public (double Reconstruction, double Kl) Step(Tensor images)
    {
        using var scope = NewDisposeScope();
        var x = Evaluation.Binarize(images, config.Binarize, generator);
        var (logits, mu, logVar) = model.forward(x);
        var (reconstruction, kl) = VariationalAutoencoder.Loss(logits, x, mu, logVar);
        _optimizer.zero_grad();
        ((reconstruction + kl) / x.shape[0]).backward();                 // mean over the batch keeps Adam's step size batch-independent
        _optimizer.step();
        return (reconstruction.item<float>(), kl.item<float>());
    }

    public void Dispose() => _optimizer.Dispose();
}
