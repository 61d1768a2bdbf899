using static TorchSharp.torch;

namespace VaeWeb.Engine.Data;

/// <summary>Which training images are held out for validation; the rest are the pool labels are drawn from.</summary>
public enum ValidationSplit
{
    /// <summary>The poster's 55,000 / 5,000 (TensorFlow's read_data_sets: the first 5,000 images validate).</summary>
    Poster,
    /// <summary>Kingma et al.'s 50,000 / 10,000 (the Theano mnist.pkl split: the last 10,000 images validate).</summary>
    Kingma,
}

/// <summary>
/// The data of a semi-supervised run: a pool of training images whose labels are hidden except for a balanced
/// subset, and a validation set kept apart for model selection. All views share the training set's storage.
/// </summary>
public sealed class LabeledSplit : IDisposable
{
    public required ImageSet Pool { get; init; }
    public required ImageSet Validation { get; init; }
    /// <summary>Indices into <see cref="Pool"/> of the images whose labels the model may see, [N] int64.</summary>
    public required Tensor LabeledIndices { get; init; }
    public long LabeledCount => LabeledIndices.shape[0];

    /// <param name="labels">Labeled images, drawn balanced: labels/10 per class. 0: every pool image is labeled.</param>
    /// <param name="poolLimit">Keep only the first N pool images (0 = all): small real runs for tests.</param>
    public static LabeledSplit Create(ImageSet train, ValidationSplit split, int labels, long seed, int poolLimit = 0, int validationLimit = 0)
    {
        int validation = split == ValidationSplit.Poster ? 5_000 : 10_000;
        if (train.Count <= validation)
            throw new ArgumentException($"{train.Name} has {train.Count} training images; the {split} split holds out {validation} for validation.");
        long poolStart = split == ValidationSplit.Poster ? validation : 0;
        long validationStart = split == ValidationSplit.Poster ? 0 : train.Count - validation;
        long poolCount = train.Count - validation;
        if (poolLimit > 0) poolCount = Math.Min(poolCount, poolLimit);
        long validationCount = validationLimit > 0 ? Math.Min(validation, validationLimit) : validation;

        var pool = new ImageSet(train.Name, train.Images.narrow(0, poolStart, poolCount), train.Labels.narrow(0, poolStart, poolCount),
            train.Channels, train.Height, train.Width);
        var held = new ImageSet(train.Name, train.Images.narrow(0, validationStart, validationCount), train.Labels.narrow(0, validationStart, validationCount),
            train.Channels, train.Height, train.Width);
        var indices = labels <= 0 ? VaeWeb.Engine.Native.Scalars.Range(poolCount) : tensor(Balanced(pool.Labels.data<long>().ToArray(), labels, seed));
        return new LabeledSplit { Pool = pool, Validation = held, LabeledIndices = indices };
    }

    /// <summary>
    /// count/classes indices of each class, drawn without replacement by a seeded shuffle, in random order. Throws when
    /// a class has too few images.
    /// </summary>
    public static long[] Balanced(long[] labels, int count, long seed, int classes = 10)
    {
        if (count % classes != 0)
            throw new ArgumentException($"The number of labels must be a multiple of {classes} so every class gets as many (got {count}).");
        int perClass = count / classes;
        var random = new Random(unchecked((int)seed));
        var chosen = new List<long>(count);
        for (int c = 0; c < classes; c++)
        {
            var ofClass = Enumerable.Range(0, labels.Length).Where(i => labels[i] == c).Select(i => (long)i).ToArray();
            if (ofClass.Length < perClass)
                throw new ArgumentException($"Class {c} has only {ofClass.Length} images in the pool; {perClass} labels per class were asked for.");
            random.Shuffle(ofClass);
            chosen.AddRange(ofClass.Take(perClass));
        }
        var result = chosen.ToArray();
        random.Shuffle(result);
        return result;
    }

    public void Dispose()
    {
        Pool.Dispose();
        Validation.Dispose();
        LabeledIndices.Dispose();
    }
}
