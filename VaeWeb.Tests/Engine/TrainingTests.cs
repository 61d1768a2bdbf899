using VaeWeb.Engine.Data;
using VaeWeb.Engine.Models;
using VaeWeb.Engine.Native;
using VaeWeb.Engine.Training;
using static TorchSharp.torch;

namespace VaeWeb.Tests.Engine;

/// <summary>Real trainings on small subsets of real MNIST: seconds each on 2 cores.</summary>
public class TrainingTests
{
    static readonly Lazy<(ImageSet Train, ImageSet Test)> Mnist = TestMnist.Loaded;

    static RunConfig Small(int epochs) => new() { Epochs = epochs, Hidden = [200, 200], Latent = 20, TrainLimit = 3000, TestLimit = 500, Seed = 3 };

    static TrainingResult Train(RunConfig config, string? folder = null, List<TrainingEvent>? events = null) =>
        Trainer.Run(config, Mnist.Value.Train.Take(config.TrainLimit), Mnist.Value.Test.Take(config.TestLimit), folder, events is null ? null : events.Add);

    [Fact]
    public void Test_elbo_improves_over_a_short_training_and_reports_stream_in_order()
    {
        var config = Small(3);
        manual_seed(config.Seed);
        using var untrained = ModelRegistry.Create(config);
        var before = untrained.Evaluate(Mnist.Value.Test.Take(config.TestLimit), config.Binarize)[Metrics.Elbo];
        var events = new List<TrainingEvent>();
        Train(config, events: events);

        var epochs = events.OfType<EpochReport>().ToList();
        Assert.Equal([1, 2, 3], epochs.Select(e => e.Epoch));
        // An untrained decoder scores about -540 nats; 90 steps on real digits bring the test ELBO near -200, and
        // every epoch improves on the one before.
        Assert.True(epochs[^1].Test[Metrics.Elbo] > before + 250, $"test ELBO {before:F1} untrained → {epochs[^1].Test[Metrics.Elbo]:F1}");
        for (int i = 1; i < epochs.Count; i++)
            Assert.True(epochs[i].Test[Metrics.Elbo] > epochs[i - 1].Test[Metrics.Elbo], $"epoch {i + 1} did not improve the test ELBO");
        Assert.All(epochs, e => Assert.Equal(e.Test[Metrics.Elbo], -(e.Test[Metrics.Reconstruction] + e.Test[Metrics.Kl]), 6));

        var steps = events.OfType<StepReport>().ToList();
        Assert.Equal(steps.Select(s => s.Step).Order(), steps.Select(s => s.Step));
        Assert.Equal(90, steps[^1].Step);                                  // 3 epochs × 3000 / 100
        Assert.Equal(3, events.OfType<EpochImages>().Count());
    }

    [Fact]
    public void A_run_says_what_it_is_doing_before_its_first_loss()
    {
        var events = new List<TrainingEvent>();
        Train(Small(1), events: events);
        var firstStep = events.FindIndex(e => e is StepReport);
        Assert.Equal([StageReport.BuildingModel, StageReport.FirstStep],
            events.Take(firstStep).OfType<StageReport>().Select(s => s.Stage));
    }

    [Fact]
    public void The_eta_of_a_run_with_a_time_limit_is_the_time_to_the_epoch_that_passes_the_limit()
    {
        // 10 epochs of 100 steps at 1 s a step: 1000 s in all. After 50 steps (50 s), no limit: 950 s to go.
        var (eta, atLimit) = StepReport.EstimateEta(TimeSpan.FromSeconds(50), 50, 1000, 10, maxMinutes: 0);
        Assert.Equal((TimeSpan.FromSeconds(950), false), (eta, atLimit));
        // A 4-minute limit is passed during epoch 3 (200–300 s), and the loop stops at that epoch's end, 300 s.
        (eta, atLimit) = StepReport.EstimateEta(TimeSpan.FromSeconds(50), 50, 1000, 10, maxMinutes: 4);
        Assert.Equal((TimeSpan.FromSeconds(250), true), (eta, atLimit));
        // Already past the limit mid-epoch: the epoch in progress still finishes.
        (eta, atLimit) = StepReport.EstimateEta(TimeSpan.FromSeconds(450), 450, 1000, 10, maxMinutes: 1);
        Assert.Equal((TimeSpan.FromSeconds(50), true), (eta, atLimit));
        // A limit the run will not reach: the ETA is the end of its last epoch.
        (eta, atLimit) = StepReport.EstimateEta(TimeSpan.FromSeconds(50), 50, 1000, 10, maxMinutes: 60);
        Assert.Equal((TimeSpan.FromSeconds(950), false), (eta, atLimit));
    }

    [Fact]
    public void Every_estimator_scores_one_fixed_binarization_of_the_test_set()
    {
        using var test = Mnist.Value.Test.Take(2000);                      // loads libtorch (with its repair) first
        using var scope = NewDisposeScope();
        var first = Evaluation.FixedBinarization(test, Binarization.Dynamic);
        var again = Evaluation.FixedBinarization(test, Binarization.Dynamic);
        Assert.True(first.eq(again).all().item<bool>(), "the same binary images every time");
        Assert.True(first.eq(0).logical_or(first.eq(1)).all().item<bool>());
        // A Bernoulli draw of the grey levels: the ink per image matches its expectation.
        Assert.Equal(test.Images.mean().item<float>(), first.mean().item<float>(), 2);
        Assert.True(Evaluation.FixedBinarization(test, Binarization.None).eq(test.Images).all().item<bool>());
    }

    [Fact]
    public void Same_seed_gives_the_same_run()
    {
        var first = new List<TrainingEvent>();
        var second = new List<TrainingEvent>();
        Train(Small(1) with { TrainLimit = 1000 }, events: first);
        Train(Small(1) with { TrainLimit = 1000 }, events: second);

        static double[] Losses(List<TrainingEvent> events) => events.OfType<StepReport>().Select(s => s.Metrics[Metrics.Elbo]).ToArray();
        Assert.Equal(Losses(first), Losses(second));
        Assert.Equal(first.OfType<EpochImages>().Single().Samples.Pixels, second.OfType<EpochImages>().Single().Samples.Pixels);
    }

    [Fact]
    public void Run_folder_holds_config_metrics_checkpoint_and_samples_and_the_checkpoint_reloads()
    {
        var folder = TempFolders.Create("vaeweb-run-").FullName;
        var config = Small(2) with { TrainLimit = 1000 };
        var result = Train(config, folder);

        var run = new RunFolder(folder);
        Assert.Equal(config.ToJson(), File.ReadAllText(run.ConfigFile));
        var lines = File.ReadAllLines(run.MetricsFile);
        Assert.Contains(lines, l => l.StartsWith("{\"type\":\"epoch\""));
        Assert.Contains(lines, l => l.StartsWith("{\"type\":\"step\""));
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], File.ReadAllBytes(run.SamplesFile(2))[..4]);

        var (model, checkpoint) = run.LoadCheckpoint();
        using var _ = model;
        Assert.Equal(2, checkpoint.Epoch);
        Assert.Equal(config.Hidden, checkpoint.Config.Hidden);
        var reloaded = model.Evaluate(Mnist.Value.Test.Take(config.TestLimit), config.Binarize);
        Assert.Equal(result.FinalTest[Metrics.Elbo], reloaded[Metrics.Elbo], 3);   // same weights, same evaluation noise
        Directory.Delete(folder, recursive: true);
    }

    [Fact]
    public void Importance_weighted_bound_is_tighter_than_the_elbo()
    {
        var folder = TempFolders.Create("vaeweb-run-").FullName;
        var config = Small(5) with { TrainLimit = 5000 };
        Train(config, folder);
        var (model, _) = new RunFolder(folder).LoadCheckpoint();
        using var __ = model;
        var test = Mnist.Value.Test.Take(300);

        var elbo = model.Evaluate(test, config.Binarize)[Metrics.Elbo];
        var k1 = Evaluation.ImportanceWeightedLogLikelihood(model, test, config.Binarize, 1);
        var k50 = Evaluation.ImportanceWeightedLogLikelihood(model, test, config.Binarize, 50);

        Assert.Equal(elbo, k1, 0);                                          // k = 1 is the ELBO itself (up to sampling noise)
        Assert.True(k50 > k1 + 1, $"IWAE k=50 {k50:F2} vs k=1 {k1:F2}");
        Directory.Delete(folder, recursive: true);
    }

    [Fact]
    public void Conv_vae_trains_on_real_digits()
    {
        var events = new List<TrainingEvent>();
        Train(new RunConfig { Arch = Architecture.Conv, Epochs = 2, Latent = 10, TrainLimit = 1000, TestLimit = 200 }, events: events);
        var epochs = events.OfType<EpochReport>().ToList();
        Assert.True(epochs[1].Test[Metrics.Elbo] > epochs[0].Test[Metrics.Elbo], "conv VAE test ELBO did not improve");
    }

    [Fact]
    public void A_conv_run_saved_before_the_nonlinearity_choice_decodes_and_resumes_as_the_softplus_model_it_trained()
    {
        var folder = TempFolders.Create("vaeweb-softplus-").FullName;
        var config = new RunConfig { Arch = Architecture.Conv, Epochs = 2, Latent = 10, TrainLimit = 500, TestLimit = 200, ConvNonlinearity = Nonlinearity.Softplus };
        Train(config, folder);
        var run = new RunFolder(folder);
        using var z = randn(new long[] { 8, config.Latent }, generator: new Generator(2));
        Tensor Decoded() { var (model, _) = run.LoadCheckpoint(); using (model) using (no_grad()) return model.Decode(z, null).detach().clone(); }
        using var trained = Decoded();

        // The folder as a run before the field wrote it: no "convNonlinearity" in config.json, checkpoint.json or the
        // resume state (a length-prefixed magic string and JSON, then the tensors).
        static string Older(string json) => System.Text.RegularExpressions.Regex.Replace(json, "\"convNonlinearity\":\\s*\"softplus\",?", "");
        foreach (var file in new[] { run.ConfigFile, run.CheckpointFile })
            File.WriteAllText(file, Older(File.ReadAllText(file)));
        var resumeFile = run.ResumeFile(1);
        using (var reader = new BinaryReader(new MemoryStream(File.ReadAllBytes(resumeFile))))
        {
            var (magic, state) = (reader.ReadString(), reader.ReadString());
            var tensors = reader.ReadBytes((int)(reader.BaseStream.Length - reader.BaseStream.Position));
            using var writer = new BinaryWriter(File.Create(resumeFile));
            writer.Write(magic);
            writer.Write(Older(state));
            writer.Write(tensors);
        }
        Assert.All(new[] { run.ConfigFile, run.CheckpointFile, resumeFile }, f => Assert.DoesNotContain("convNonlinearity", File.ReadAllText(f)));
        Assert.Equal(Nonlinearity.Softplus, run.ReadConfig().ConvNonlinearity);
        using var reread = Decoded();
        Assert.True(trained.equal(reread).all().item<bool>(), "the checkpoint decodes as the model it saved");
        // The same weights through today's default (ReLU) decode otherwise: the field is what keeps old runs right.
        using (var relu = ModelRegistry.Create(run.ReadConfig() with { ConvNonlinearity = Nonlinearity.Relu }))
        using (no_grad())
        {
            relu.load(run.ModelFile);
            relu.eval();
            Assert.False(relu.Decode(z, null).allclose(trained, 1e-3, 1e-3));
        }
        // A resume from its first epoch continues it as softplus, through its second.
        var events = new List<TrainingEvent>();
        var resumed = Trainer.Resume(folder, _ => (Mnist.Value.Train.Take(config.TrainLimit), Mnist.Value.Test.Take(config.TestLimit)), events.Add, epoch: 1);
        Assert.Equal(Nonlinearity.Softplus, resumed.Config.ConvNonlinearity);
        Assert.Equal([2], events.OfType<EpochReport>().Select(e => e.Epoch));
        Directory.Delete(folder, recursive: true);
    }

    [Fact]
    public void Fused_adam_matches_torch_adam()
    {
        TorchRuntime.EnsureInitialized();
        using var reference = new Vae(784, 8, [32]);
        using var fused = new Vae(784, 8, [32]);
        fused.load_state_dict(reference.state_dict());                       // same starting weights
        using var torchAdam = optim.Adam(reference.parameters(), 1e-2);
        using var fusedAdam = new FusedAdam(fused.parameters(), 1e-2);
        using var x = rand(16, 784).lt_(0.3);

        for (int step = 0; step < 5; step++)
        {
            foreach (var (model, zero, update) in new (Vae, Action, Action)[] { (reference, () => torchAdam.zero_grad(), () => torchAdam.step()), (fused, fusedAdam.zero_grad, fusedAdam.step) })
            {
                using var scope = NewDisposeScope();
                zero();
                using var noise = new Generator((ulong)(100 + step));        // same reparameterization noise for both
                model.Noise = noise;
                var (logits, mu, logVar) = model.forward(x);
                var (rec, kl) = VariationalAutoencoder.Loss(logits, x, mu, logVar);
                (rec + kl).backward();
                update();
            }
        }
        foreach (var (a, b) in reference.parameters().Zip(fused.parameters()))
            Assert.True((a - b).abs().max().item<float>() < 1e-5, "parameters differ after 5 steps");
    }

    [Fact]
    public void Fused_adam_with_its_rate_scaled_steps_as_adam_at_the_scaled_rate()
    {
        TorchRuntime.EnsureInitialized();
        using var scaled = new Vae(784, 8, [32]);
        using var plain = new Vae(784, 8, [32]);
        using var frozen = new Vae(784, 8, [32]);
        plain.load_state_dict(scaled.state_dict());
        frozen.load_state_dict(scaled.state_dict());
        using var initial = new Vae(784, 8, [32]);
        initial.load_state_dict(scaled.state_dict());
        using var scaledAdam = new FusedAdam(scaled.parameters(), 1e-2) { LearningRateScale = 0.25 };
        using var plainAdam = new FusedAdam(plain.parameters(), 0.25e-2);
        using var frozenAdam = new FusedAdam(frozen.parameters(), 1e-2) { LearningRateScale = 0 };
        using var x = rand(16, 784).lt_(0.3);
        for (int step = 0; step < 3; step++)
            foreach (var (model, adam) in new[] { (scaled, scaledAdam), (plain, plainAdam), (frozen, frozenAdam) })
            {
                using var scope = NewDisposeScope();
                adam.zero_grad();
                using var noise = new Generator((ulong)(100 + step));
                model.Noise = noise;
                var (logits, mu, logVar) = model.forward(x);
                var (rec, kl) = VariationalAutoencoder.Loss(logits, x, mu, logVar);
                (rec + kl).backward();
                adam.step();
            }
        foreach (var (a, b) in scaled.parameters().Zip(plain.parameters()))
            Assert.True((a - b).abs().max().item<float>() < 1e-6, "a scaled rate differs from the same rate given directly");
        foreach (var (a, b) in frozen.parameters().Zip(initial.parameters()))
            Assert.True((a - b).abs().max().item<float>() == 0, "a rate scaled by 0 moved a weight");
        Assert.Contains(scaled.parameters().Zip(initial.parameters()), p => (p.First - p.Second).abs().max().item<float>() > 1e-4);
    }

    [Fact]
    public void A_decayed_learning_rate_starts_at_the_configured_rate_and_changes_what_training_does_after()
    {
        var constant = new List<TrainingEvent>();
        var decayed = new List<TrainingEvent>();
        var config = Small(2) with { TrainLimit = 1000 };
        Train(config, events: constant);
        Train(config with { DecayLearningRate = true }, events: decayed);

        static double[] Losses(List<TrainingEvent> events) => events.OfType<StepReport>().Select(s => s.Metrics[Metrics.Elbo]).ToArray();
        var (c, d) = (Losses(constant), Losses(decayed));
        Assert.Equal(c[0], d[0]);                                           // step 1 at the full rate: the same step
        Assert.NotEqual(c[^1], d[^1]);                                      // later steps at lower rates
        Assert.All(d, l => Assert.True(double.IsFinite(l)));
    }

    [Fact]
    public void Kl_term_is_the_analytic_kl_of_diagonal_gaussians()
    {
        TorchRuntime.EnsureInitialized();
        using var mu = tensor(new float[] { 0.5f, -1f }).view(1, 2);
        using var logVar = tensor(new float[] { 0.2f, -0.7f }).view(1, 2);
        using var logits = zeros(1, 4);
        using var x = ones(1, 4);
        var (_, kl) = VariationalAutoencoder.Loss(logits, x, mu, logVar);
        // KL(N(mu, s²) || N(0, 1)) = ½ Σ (mu² + s² − log s² − 1)
        double expected = 0.5 * ((0.25 + Math.Exp(0.2) - 0.2 - 1) + (1 + Math.Exp(-0.7) + 0.7 - 1));
        Assert.Equal(expected, kl.item<float>(), 5);
    }
}
