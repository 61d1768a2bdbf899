namespace VaeWeb.Engine.Training;

/// <summary>
/// The trainer's rule for a GAN that has collapsed without a NaN: for <see cref="Steps"/> consecutive steps the
/// discriminator wins outright — its mean output on fakes D(fake) ≤ <see cref="FakeAtMost"/> while it still calls
/// real images real, D(real) ≥ <see cref="RealAtLeast"/> — and the generator's GAN loss has exploded to at least
/// <see cref="GeneratorLossAtLeast"/> nats per image. Any model whose steps report <see cref="Metrics.RealScore"/>,
/// <see cref="Metrics.FakeScore"/> and <see cref="Metrics.GeneratorLoss"/> is watched; others never trip it. A step
/// that misses any condition starts the count again.
/// </summary>
public sealed class GanCollapse
{
    /// <summary>
    /// Many steps, not one: a GAN's balance swings, and a winning discriminator is often caught up with. Measured on
    /// VAE-GAN (3,000 MNIST digits, γ 0.01, learning rate 0.01, seed 1): D(fake) stayed ≈ 0 with a generator loss of
    /// 18–24 for 8 steps, then the decoder recovered (the balance rule stops the discriminator learning while it wins).
    /// Fifty steps is six times that swing and half an epoch of 10,000 images: long enough not to end a run that would
    /// recover, short enough to stop one that will not within its first epoch on a subset.
    /// </summary>
    public const int Steps = 50;

    /// <summary>D(fake) ≤ 1%: the discriminator rejects practically every fake; a balanced GAN sits near 0.5.</summary>
    public const double FakeAtMost = 0.01;

    /// <summary>
    /// D(real) ≥ 0.5: it still takes real images for real, so it tells the two apart rather than rejecting everything
    /// (a broken discriminator, D ≈ 0 on all inputs, also has D(fake) ≈ 0; its own loss would say so).
    /// </summary>
    public const double RealAtLeast = 0.5;

    /// <summary>
    /// The generator's −log D(fake) summed over its fakes: ≥ 10 nats means the discriminator's logit on fakes averages
    /// below about −10 (D ≈ 1/22,000). Healthy VAE-GAN steps measure 1.4–5 (two fake batches, each near ln 2 at
    /// equilibrium); D(fake) ≤ 0.01 alone already implies ≥ 4.6 per fake batch, so this asks for the loss to have run
    /// well past that.
    /// </summary>
    public const double GeneratorLossAtLeast = 10;

    int _count;
    long _firstStep;
    int _firstEpoch;
    double _firstGeneratorLoss;

    /// <summary>
    /// Takes one step's loss terms (unprefixed names); returns why the run must stop when this step completes a
    /// collapse, else null.
    /// </summary>
    public string? Observe(long step, int epoch, IReadOnlyList<(string Name, double Value)> terms)
    {
        double? Term(string name) => terms.Where(t => t.Name == name).Select(t => (double?)t.Value).FirstOrDefault();
        if (Term(Metrics.RealScore) is not { } real || Term(Metrics.FakeScore) is not { } fake || Term(Metrics.GeneratorLoss) is not { } generator)
            return null;
        if (!(fake <= FakeAtMost && real >= RealAtLeast && generator >= GeneratorLossAtLeast))
        {
            _count = 0;
            return null;
        }
        if (_count++ == 0) (_firstStep, _firstEpoch, _firstGeneratorLoss) = (step, epoch, generator);
        if (_count < Steps) return null;
        return $"The GAN collapsed: the discriminator won outright for {Steps} consecutive steps (steps {_firstStep}–{step}, " +
               $"{(epoch == _firstEpoch ? $"epoch {epoch}" : $"epochs {_firstEpoch}–{epoch}")}: D(fake) ≤ {FakeAtMost} with D(real) = {real:F2}) " +
               $"while the generator's loss had exploded to at least {GeneratorLossAtLeast} nats ({_firstGeneratorLoss:F1} at the first step, {generator:F1} at the last); " +
               "try a lower learning rate.";
    }
}
