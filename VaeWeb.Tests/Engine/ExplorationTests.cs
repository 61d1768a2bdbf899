using VaeWeb.Engine.Data;
using VaeWeb.Engine.Exploration;
using VaeWeb.Engine.Native;
using VaeWeb.Engine.Training;
using static TorchSharp.torch;

namespace VaeWeb.Tests.Engine;

/// <summary>One real M2 trained on MNIST for the class, then restyled, completed and asked to classify drawings.</summary>
public sealed class TrainedM2 : IDisposable
{
    public ImageSet Test { get; }
    public TrainedModel Model { get; }
    public RunConfig Config { get; } = new()
    {
        // Every training label (a supervised M2): the classifier and the class-conditional decoder both learn in
        // seconds, which is what quality checks of restyling need.
        Model = ModelKind.M2, Labels = 0, Alpha = 20, Epochs = 3, TrainLimit = 0, TestLimit = 1000, Latent = 2, Hidden = [256, 256], LearningRate = 2e-3, Seed = 5,
    };

    public TrainedM2()
    {
        TorchRuntime.EnsureInitialized();
        var (train, test) = Datasets.Load("mnist");
        Test = test;
        var folder = TempFolders.Create("vaeweb-explore-").FullName;
        Trainer.Run(Config, train, test, folder);
        var run = new RunFolder(folder);
        Model = TrainedModel.Load(File.ReadAllBytes(run.ModelFile), Config, epoch: 2);
        train.Dispose();
    }

    public float[] Digit(int index) => Test.Images[index].data<float>().ToArray();
    public int Label(int index) => (int)Test.Labels[index].item<long>();

    public void Dispose()
    {
        Model.Dispose();
        Test.Dispose();
    }
}

public class ExplorationTests(TrainedM2 trained) : IClassFixture<TrainedM2>
{
    [Fact]
    public void Restyled_digits_are_classified_as_their_target_classes_at_least_90_percent_of_the_time()
    {
        int hits = 0, total = 0;
        for (int index = 0; index < 30; index++)
        {
            var (grid, _, _) = trained.Model.Restyle(trained.Digit(index), label: null);
            Assert.Equal((1, 11), (grid.Rows, grid.Cols));
            for (int target = 0; target < 10; target++)
            {
                var image = grid.Pixels.AsSpan((1 + target) * 784, 784).ToArray().Select(b => b / 255f).ToArray();
                var (probabilities, _) = trained.Model.Classify(image);
                hits += Array.IndexOf(probabilities, probabilities.Max()) == target ? 1 : 0;
                total++;
            }
        }
        Assert.True(hits >= 0.9 * total, $"{hits} of {total} restyled digits were classified as their target class");
    }

    [Fact]
    public void Completions_of_erased_halves_are_closer_to_the_original_than_the_masked_input_on_the_erased_part()
    {
        foreach (var region in new[] { "bottom", "right" })
        {
            double completedError = 0, maskedError = 0;
            for (int index = 0; index < 20; index++)
            {
                var original = trained.Digit(index);
                var erased = Enumerable.Range(0, 784).Select(i => region == "bottom" ? i / 28 >= 14 : i % 28 >= 14).ToArray();
                var grid = trained.Model.Complete(original, erased, label: null, count: 4, seed: index);
                Assert.Equal((1, 6), (grid.Rows, grid.Cols));
                for (int c = 0; c < 4; c++)
                    for (int i = 0; i < 784; i++)
                        if (erased[i])
                        {
                            var completed = grid.Pixels[(2 + c) * 784 + i] / 255.0;
                            completedError += (completed - original[i]) * (completed - original[i]) / 4;
                            maskedError += original[i] * original[i] / 4;    // the masked input shows 0 there
                        }
                // Visible pixels are kept exactly.
                for (int i = 0; i < 784; i++)
                    if (!erased[i]) Assert.Equal(grid.Pixels[i], grid.Pixels[2 * 784 + i]);
            }
            Assert.True(completedError < maskedError, $"{region}: completion squared error {completedError:F1} vs masked input {maskedError:F1}");
        }
    }

    [Fact]
    public void Same_seed_same_images_so_a_gallery_can_be_regenerated()
    {
        Assert.Equal(trained.Model.Sample(0.8, 42).Pixels, trained.Model.Sample(0.8, 42).Pixels);
        Assert.NotEqual(trained.Model.Sample(0.8, 42).Pixels, trained.Model.Sample(0.8, 43).Pixels);
        var erased = Enumerable.Range(0, 784).Select(i => i < 392).ToArray();
        Assert.Equal(trained.Model.Complete(trained.Digit(3), erased, null, 3, 9).Pixels, trained.Model.Complete(trained.Digit(3), erased, null, 3, 9).Pixels);
    }

    [Fact]
    public void A_test_digit_redrawn_large_is_preprocessed_like_mnist_and_classified_correctly()
    {
        // Test digits drawn at 10x on a 280x280 pad, off-centre: the preprocessing must undo size and position.
        int correct = 0;
        for (int index = 0; index < 20; index++)
        {
            var digit = trained.Digit(index);
            var pad = new float[280 * 280];
            for (int y = 0; y < 280; y++)
                for (int x = 0; x < 280; x++)
                {
                    int sy = y / 10 - 3, sx = x / 10 + 2;                   // shifted up and left by a few source pixels
                    pad[y * 280 + x] = sy is >= 0 and < 28 && sx is >= 0 and < 28 ? digit[sy * 28 + sx] : 0;
                }
            var input = Drawing.ToMnist(pad, 280, 280);
            var (probabilities, _) = trained.Model.Classify(input);
            correct += Array.IndexOf(probabilities, probabilities.Max()) == trained.Label(index) ? 1 : 0;
            Assert.Equal(1f, probabilities.Sum(), 3);
        }
        Assert.True(correct >= 17, $"{correct} of 20 redrawn test digits classified correctly");
    }

    [Fact]
    public void Drawings_are_fitted_into_a_20_pixel_box_with_their_center_of_mass_at_the_center()
    {
        // A thick vertical bar, 200 x 40 pixels, in the corner of a 280x280 pad.
        var pad = new float[280 * 280];
        for (int y = 10; y < 210; y++)
            for (int x = 5; x < 45; x++) pad[y * 280 + x] = 1;
        var image = Drawing.ToMnist(pad, 280, 280);

        var inked = Enumerable.Range(0, 784).Where(i => image[i] > 0.05f).ToList();
        var rows = inked.Select(i => i / 28).ToList();
        Assert.Equal(20, rows.Max() - rows.Min() + 1);                       // the longer side fills the 20-pixel box
        double mass = inked.Sum(i => image[i]);
        double cy = inked.Sum(i => image[i] * (i / 28)) / mass, cx = inked.Sum(i => image[i] * (i % 28)) / mass;
        Assert.InRange(cy, 12.5, 14.5);
        Assert.InRange(cx, 12.5, 14.5);
    }

    [Theory]
    [InlineData(280, 280, 100, "280x280 drawing has 78400 pixels")]
    [InlineData(4000, 4000, 16, "between 8x8 and 1024x1024")]
    [InlineData(28, 28, -1, "empty")]
    public void Bad_drawings_are_rejected_with_what_to_do(int width, int height, int length, string message)
    {
        var pixels = new float[length < 0 ? width * height : length];
        Assert.Contains(message, Assert.Throws<Drawing.InvalidDrawingException>(() => Drawing.ToMnist(pixels, width, height)).Message);
        var nan = new float[28 * 28];
        nan[5] = float.NaN;
        Assert.Contains("between 0 and 1", Assert.Throws<Drawing.InvalidDrawingException>(() => Drawing.ToMnist(nan, 28, 28)).Message);
    }
}
