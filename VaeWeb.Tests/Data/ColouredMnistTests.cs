using VaeWeb.Engine.Data;
using VaeWeb.Engine.Native;

namespace VaeWeb.Tests.Data;

/// <summary>"Coloured MNIST (SVHN stand-in)": the colour datasets' shape, from MNIST, deterministic and not flat.</summary>
public class ColouredMnistTests
{
    static Idx.Images TestDigits(out byte[] labels)
    {
        var folder = Datasets.EnsureAsync("mnist").GetAwaiter().GetResult();
        labels = Idx.ReadLabels(Path.Combine(folder, "t10k-labels-idx1-ubyte"));
        return Idx.ReadImages(Path.Combine(folder, "t10k-images-idx3-ubyte"));
    }

    [Fact]
    public void Loads_as_32x32_colour_with_mnists_labels()
    {
        TorchRuntime.EnsureInitialized();
        var (train, test) = Datasets.Load(ColouredMnist.Name);
        using (train) using (test)
        {
            Assert.Equal(new long[] { 60_000, 3072 }, train.Images.shape);
            Assert.Equal(new long[] { 10_000, 3072 }, test.Images.shape);
            Assert.Equal((3, 32, 32), (test.Channels, test.Height, test.Width));
            Assert.InRange(test.Images.min().item<float>(), 0f, 0.05f);
            Assert.InRange(test.Images.max().item<float>(), 0.95f, 1f);
            TestDigits(out var labels);
            Assert.Equal(labels.Select(l => (long)l), test.Labels.data<long>().ToArray());
        }
        Assert.True(Datasets.Find(ColouredMnist.Name)!.IsColour);
        Assert.Equal("Coloured MNIST (SVHN stand-in)", Datasets.Find(ColouredMnist.Name)!.Title);
    }

    [Fact]
    public void The_same_seed_gives_the_same_images_and_another_seed_others()
    {
        var digits = TestDigits(out _);
        var first = ColouredMnist.Make(digits, seed: 1, count: 200);
        Assert.Equal(200 * 3072, first.Length);
        Assert.Equal(first, ColouredMnist.Make(digits, seed: 1, count: 200));
        Assert.Equal(first[..(50 * 3072)], ColouredMnist.Make(digits, seed: 1, count: 50));     // a prefix is the same images
        Assert.NotEqual(first, ColouredMnist.Make(digits, seed: 2, count: 200));
    }

    [Fact]
    public void Every_process_makes_the_same_images()
    {
        // The digest of the first 20 images as another process made them: a seed that depended on the process (as
        // HashCode.Combine's does) would give other bytes here.
        var bytes = ColouredMnist.Make(TestDigits(out _), seed: 1, count: 20);
        Assert.Equal("B15115DAC6EA255E147CCA9F1F1D4C0FA37A6D94055C63D96205D219026F7F69", Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(bytes)));
    }

    [Fact]
    public void Backgrounds_are_coloured_and_textured_and_the_digit_stands_out()
    {
        var digits = TestDigits(out _);
        const int n = 300;
        var pixels = ColouredMnist.Make(digits, seed: 1, count: n);
        var meanColours = new List<(double R, double G, double B)>();
        for (int i = 0; i < n; i++)
        {
            var image = pixels[(i * 3072)..((i + 1) * 3072)];
            double Luma(int p) => 0.299 * image[p] + 0.587 * image[1024 + p] + 0.114 * image[2048 + p];
            var brightest = Enumerable.Range(0, 1024).Select(Luma).Max();
            var darkest = Enumerable.Range(0, 1024).Select(Luma).Min();
            Assert.True(brightest - darkest > 60, $"image {i}: luma spans only {darkest:F0}–{brightest:F0}");   // the digit contrasts
            var values = Enumerable.Range(0, 3072).Select(p => (int)image[p]).Distinct().Count();
            Assert.True(values > 40, $"image {i} has only {values} distinct channel values");                // texture, not flat fills
            meanColours.Add((Avg(image, 0), Avg(image, 1), Avg(image, 2)));
        }
        // Backgrounds vary in colour across images, and each channel differs from the others (colour, not grey).
        Assert.True(StdDev(meanColours.Select(c => c.R)) > 20 && StdDev(meanColours.Select(c => c.G)) > 20 && StdDev(meanColours.Select(c => c.B)) > 20);
        Assert.True(meanColours.Average(c => Math.Abs(c.R - c.G) + Math.Abs(c.G - c.B)) > 20);
    }

    static double Avg(ReadOnlySpan<byte> image, int channel)
    {
        double sum = 0;
        foreach (var b in image.Slice(channel * 1024, 1024)) sum += b;
        return sum / 1024;
    }

    static double StdDev(IEnumerable<double> values)
    {
        var list = values.ToList();
        var mean = list.Average();
        return Math.Sqrt(list.Sum(v => (v - mean) * (v - mean)) / list.Count);
    }
}
