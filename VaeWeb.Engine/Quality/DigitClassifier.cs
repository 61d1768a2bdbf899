using TorchSharp;
using TorchSharp.Modules;
using VaeWeb.Engine.Data;
using VaeWeb.Engine.Models;
using VaeWeb.Engine.Native;
using VaeWeb.Engine.Training;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VaeWeb.Engine.Quality;

/// <summary>
/// The project's own classifier of a dataset's ten classes, trained once (`classifier`) and kept under the data folder:
/// its penultimate features and confidences judge samples of models that have no likelihood (a GAN), and put every
/// generative model on one axis. A small convnet: two 3x3 convolutions with max-pooling, 128 hidden units.
/// </summary>
public sealed class DigitClassifier : Module<Tensor, Tensor>
{
    public const int FeatureSize = 128, Classes = 10;
    readonly Sequential features;
    readonly Linear output;
    readonly RunDropout dropout;

    public DigitClassifier(Func<Generator?>? noise = null) : base(nameof(DigitClassifier))
    {
        features = Sequential(
            Unflatten(1, [1, 28, 28]),
            Conv2d(1, 32, 3, padding: 1), ReLU(), MaxPool2d(2),              // [B, 32, 14, 14]
            Conv2d(32, 64, 3, padding: 1), ReLU(), MaxPool2d(2),             // [B, 64, 7, 7]
            Flatten(), Linear(64 * 7 * 7, FeatureSize), ReLU());             // [B, 128]
        dropout = new RunDropout(0.5, noise ?? (() => null));
        output = Linear(FeatureSize, Classes);
        RegisterComponents();
    }

    /// <summary>x [B, 784] intensities → the penultimate layer [B, 128], what the Fréchet distance compares.</summary>
    public Tensor Features(Tensor x) => features.forward(x);

    /// <summary>x [B, 784] → logits [B, 10].</summary>
    public override Tensor forward(Tensor x) => output.forward(dropout.forward(Features(x)));

    /// <summary>Where the classifier of <paramref name="dataset"/> is kept under the data folder.</summary>
    public static string FileFor(string dataDirectory, string dataset) => Path.Combine(dataDirectory, "classifiers", dataset + ".pt");

    /// <summary>The kept classifier of the dataset, in eval mode; null when `classifier` has not trained one.</summary>
    public static DigitClassifier? TryLoad(string dataDirectory, string dataset)
    {
        var file = FileFor(dataDirectory, dataset);
        if (!File.Exists(file)) return null;
        TorchRuntime.EnsureInitialized();
        var classifier = new DigitClassifier();
        classifier.load(file);
        classifier.eval();
        return classifier;
    }

    /// <summary>
    /// Trains on the grey-level training images with Adam (1e-3, batch 100) from <paramref name="seed"/>, reporting each
    /// epoch's test accuracy (%) and the fraction of the run done; returns the last test accuracy.
    /// </summary>
    public double Train(ImageSet train, ImageSet test, int epochs, long seed, Action<int, double>? onEpoch = null, Action<double>? onProgress = null,
        CancellationToken cancellationToken = default)
    {
        using var generator = new Generator((ulong)seed);
        using var optimizer = optim.Adam(parameters(), 1e-3);
        double accuracy = 0;
        long steps = (train.Count + 99) / 100, done = 0;
        for (int epoch = 1; epoch <= epochs; epoch++)
        {
            this.train();
            using var order = randperm(train.Count, generator: generator);
            for (long start = 0; start < train.Count; start += 100)
            {
                cancellationToken.ThrowIfCancellationRequested();
                using var scope = NewDisposeScope();
                var rows = order.narrow(0, start, Math.Min(100, train.Count - start));
                var loss = functional.cross_entropy(forward(train.Images.index_select(0, rows)), train.Labels.index_select(0, rows));
                optimizer.zero_grad();
                loss.backward();
                optimizer.step();
                onProgress?.Invoke((double)++done / (steps * epochs));
            }
            eval();
            accuracy = 100 - Evaluation.ErrorPercent(forward, test.Images, test.Labels);
            onEpoch?.Invoke(epoch, accuracy);
        }
        return accuracy;
    }
}
